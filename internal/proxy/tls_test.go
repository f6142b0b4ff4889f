package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devproxy/devproxy/internal/record"
)

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSListenerServesHTTP2(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(echoHeaders))
	t.Cleanup(backend.Close)
	cert, err := SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	if fp := Fingerprint(cert); len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Errorf("fingerprint %q is not 32 colon-separated bytes", fp)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := cert.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("self-signed certificate does not cover %s: %v", name, err)
		}
	}
	target, _ := urlParse(backend.URL)
	h, _ := New(Options{Target: target, Tap: record.NewRecorder(record.Limits{})})
	srv, err := Listen(ServerOptions{Listen: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, h)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })

	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client := &http.Client{Timeout: testTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	t.Cleanup(client.CloseIdleConnections)
	res, err := client.Get(strings.Replace(srv.URL(), "127.0.0.1", "localhost", 1) + "/")
	if err != nil {
		t.Fatal(err)
	}
	hdr := decodeHeaders(t, readAll(t, res))
	if res.ProtoMajor != 2 {
		t.Errorf("client spoke %s, want HTTP/2 on TLS", res.Proto)
	}
	if hdr.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", hdr.Get("X-Forwarded-Proto"))
	}
	if via := hdr.Get("Via"); !strings.HasPrefix(via, "2 devproxy") {
		t.Errorf("Via %q, want 2 devproxy … for an HTTP/2 client", via)
	}
}

func TestHTTPSOrigin(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	t.Cleanup(origin.Close)
	caFile := writePEM(t, "ca.pem", "CERTIFICATE", origin.Certificate().Raw)

	t.Run("untrusted", func(t *testing.T) {
		// The engine names no flags; the command layer's hint is added.
		r := rigWithTarget(t, origin.URL, func(o *Options, _ *TransportOptions) {
			o.ErrorHints = map[record.ErrorKind]string{record.ErrTLS: "use --ca FILE"}
		})
		res := r.get("/")
		body := readAll(t, res)
		if res.StatusCode != 502 || !strings.Contains(body, "not accepted: x509") || !strings.Contains(body, "(use --ca FILE)") {
			t.Errorf("status %d body %q: want 502 that suggests --ca", res.StatusCode, body)
		}
		if x := r.waitDone(1)[0]; x.Err == nil || x.Err.Kind != record.ErrTLS {
			t.Errorf("recorded %+v", x.Err)
		}
	})
	t.Run("ca", func(t *testing.T) {
		r := rigWithTarget(t, origin.URL, func(_ *Options, to *TransportOptions) { to.CAFile = caFile })
		res := r.get("/")
		if body := readAll(t, res); res.StatusCode != 200 || body != "secure" {
			t.Errorf("status %d body %q", res.StatusCode, body)
		}
		if x := r.waitDone(1)[0]; x.Timings.TLS < 0 || x.Timings.Connect < x.Timings.TLS {
			t.Errorf("timings %+v: TLS must be measured and lie inside connect", x.Timings)
		}
	})
	t.Run("insecure", func(t *testing.T) {
		r := rigWithTarget(t, origin.URL, func(_ *Options, to *TransportOptions) { to.Insecure = true })
		res := r.get("/")
		if body := readAll(t, res); res.StatusCode != 200 || body != "secure" {
			t.Errorf("status %d body %q", res.StatusCode, body)
		}
	})
	t.Run("plain target spoken to as https", func(t *testing.T) {
		plain := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(plain.Close)
		r := rigWithTarget(t, strings.Replace(plain.URL, "http:", "https:", 1))
		res := r.get("/")
		body := readAll(t, res)
		if res.StatusCode != 502 || !strings.Contains(body, "does not speak TLS") {
			t.Errorf("status %d body %q", res.StatusCode, body)
		}
	})
}

func TestMutualTLSOrigin(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "devproxy-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	clientCert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile := writePEM(t, "client.pem", "CERTIFICATE", der)
	keyFile := writePEM(t, "client.key", "EC PRIVATE KEY", keyDER)

	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello ", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	origin.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	origin.StartTLS()
	t.Cleanup(origin.Close)

	r := rigWithTarget(t, origin.URL, func(_ *Options, to *TransportOptions) {
		to.Insecure = true
		to.ClientCertFile, to.ClientKeyFile = certFile, keyFile
	})
	res := r.get("/")
	if body := readAll(t, res); res.StatusCode != 200 || body != "hello devproxy-client" {
		t.Errorf("status %d body %q", res.StatusCode, body)
	}

	without := rigWithTarget(t, origin.URL, func(_ *Options, to *TransportOptions) { to.Insecure = true })
	res = without.get("/")
	if body := readAll(t, res); res.StatusCode != 502 {
		t.Errorf("without a client certificate: status %d body %q, want 502", res.StatusCode, body)
	}
}

func TestLoadKeyPairErrors(t *testing.T) {
	a, _ := SelfSigned()
	b, _ := SelfSigned()
	certA := writePEM(t, "a.pem", "CERTIFICATE", a.Certificate[0])
	keyDER, _ := x509.MarshalECPrivateKey(b.PrivateKey.(*ecdsa.PrivateKey))
	keyB := writePEM(t, "b.key", "EC PRIVATE KEY", keyDER)
	_, err := LoadKeyPair(certA, keyB, "--cert", "--key")
	if err == nil || !strings.Contains(err.Error(), "do not belong together") {
		t.Errorf("mismatched pair: %v", err)
	}
	_, err = LoadKeyPair(filepath.Join(t.TempDir(), "missing.pem"), keyB, "--cert", "--key")
	if err == nil || !strings.Contains(err.Error(), "--cert") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing cert: %v", err)
	}
	_, err = NewTransport(TransportOptions{CAFile: keyB})
	if err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("--ca with a key file: %v", err)
	}
}

func TestListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The command layer names its flag; the engine alone names none.
	_, err = Listen(ServerOptions{Listen: ln.Addr().String(), ListenFlag: "--listen"}, http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("error %v should name the address and suggest --listen", err)
	}
	_, err = Listen(ServerOptions{Listen: ln.Addr().String()}, http.NotFoundHandler())
	if err == nil || strings.Contains(err.Error(), "--") {
		t.Fatalf("error %v should name no flag", err)
	}
}

// TestGracefulShutdown: Shutdown waits for an in-flight exchange, which
// completes normally, and refuses new connections meanwhile.
func TestGracefulShutdown(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		fmt.Fprint(w, "finished")
	}))
	t.Cleanup(backend.Close)
	target, _ := urlParse(backend.URL)
	h, _ := New(Options{Target: target})
	srv, err := Listen(ServerOptions{Listen: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	client := &http.Client{Timeout: testTimeout}
	got := make(chan string, 1)
	go func() {
		res, err := client.Get(srv.URL() + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- readAll(t, res)
	}()
	<-arrived
	shutdown := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	go func() { shutdown <- srv.Shutdown(ctx) }()

	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(testTimeout)
	for {
		c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during shutdown")
		}
		runtimeGosched()
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q", body)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
