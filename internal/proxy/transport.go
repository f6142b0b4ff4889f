package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// TransportOptions configure the upstream transport.
type TransportOptions struct {
	// Insecure skips verification of the target's certificate.
	Insecure bool
	// CAFile is a PEM file of extra CAs to trust for the target.
	CAFile string
	// ClientCertFile and ClientKeyFile present a client certificate to the
	// target (mTLS).
	ClientCertFile, ClientKeyFile string
	// ResponseHeaderTimeout bounds the wait for response headers; 0 means no
	// limit, so long polls and slow endpoints work.
	ResponseHeaderTimeout time.Duration
	// DialContext replaces the TCP dialer (the relay dials agent tunnels).
	// It does not change the protocols: see Protocols.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Protocols are the HTTP versions the transport may speak. Nil means
	// HTTP/1.1, and HTTP/2 with TLS targets that offer it (ALPN); plain
	// http:// targets get HTTP/1.1 unless UnencryptedHTTP2 is asked for
	// without HTTP1. The relay's tunnel transport asks for HTTP/1.1 only,
	// since agents serve HTTP/1.1 on tunnel streams.
	Protocols *http.Protocols
	// UpstreamH2C sends requests to http:// upstreams as HTTP/2 with prior
	// knowledge (h2c) instead of HTTP/1.1 (--upstream-h2c); https://
	// upstreams still choose by ALPN. The transport then also allows
	// UnencryptedHTTP2, which the Handler reads as this choice: it sends
	// such requests through an h2c-only copy of the transport.
	UpstreamH2C bool
}

// UpstreamH2CFlag names the command-line flag behind UpstreamH2C, for
// error messages.
const UpstreamH2CFlag = "--upstream-h2c"

// DefaultProtocols is what a transport speaks when TransportOptions leave
// Protocols nil: HTTP/1.1, and HTTP/2 over TLS.
func DefaultProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return p
}

// IdleConnTimeout is below Node's 5 s keep-alive timeout, so devproxy drops an
// idle connection before a dev server does and never reuses a closing one.
const IdleConnTimeout = 4 * time.Second

// NewTransport returns the upstream transport: no environment proxy, many idle
// connections per host, no transparent compression (bytes pass unchanged),
// and the protocols o asks for, whatever the dialer.
func NewTransport(o TransportOptions) (*http.Transport, error) {
	tlsConf := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // only when --insecure asks for it
	if o.CAFile != "" {
		pool, err := LoadCAPool(o.CAFile)
		if err != nil {
			return nil, optionErr("CAFile", fmt.Errorf("CA file %w", err))
		}
		tlsConf.RootCAs = pool
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		return nil, optionErr("ClientCertFile", errors.New("a client certificate and its key go together: give both files or neither"))
	}
	if o.ClientCertFile != "" {
		cert, err := LoadKeyPair(o.ClientCertFile, o.ClientKeyFile, "client certificate", "client key")
		if err != nil {
			return nil, optionErr("ClientCertFile", err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	protocols := DefaultProtocols()
	if o.Protocols != nil {
		p := *o.Protocols // the caller's value may change later; the transport's must not
		protocols = &p
	}
	if o.UpstreamH2C {
		protocols.SetUnencryptedHTTP2(true)
	}
	dial := o.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		Protocols:             protocols,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		DisableCompression:    true,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}, nil
}

// isGRPC reports whether a content type is gRPC's (application/grpc,
// application/grpc+proto, …): such requests need HTTP/2 end to end.
func isGRPC(contentType string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(contentType), "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// h2cReason says why a request goes upstream as h2c ("" if it does not):
// the transport allows UnencryptedHTTP2 (UpstreamH2C), or the request is
// gRPC and the transport allows HTTP/2 at all. Only http:// requests that
// are not protocol upgrades qualify: Go's HTTP/2 client cannot upgrade.
func h2cReason(t *http.Transport, out *http.Request) string {
	if t.Protocols == nil || out.URL.Scheme != "http" || out.Header.Get("Upgrade") != "" {
		return ""
	}
	switch {
	case t.Protocols.UnencryptedHTTP2():
		return UpstreamH2CFlag
	case t.Protocols.HTTP2() && isGRPC(out.Header.Get("Content-Type")):
		return "grpc"
	}
	return ""
}

// h2cOnly returns a copy of t that speaks HTTP/2 with prior knowledge to
// http:// upstreams and nothing else.
func h2cOnly(t *http.Transport) *http.Transport {
	c := t.Clone()
	c.Protocols = new(http.Protocols)
	c.Protocols.SetUnencryptedHTTP2(true)
	return c
}

// H2CError is an upstream failing a request sent as h2c: most often it
// speaks only HTTP/1.1 on that port.
type H2CError struct {
	// Reason is UpstreamH2CFlag or "grpc": why the request went as h2c.
	Reason string
	Err    error
}

func (e *H2CError) Error() string { return "h2c: " + e.Err.Error() }

// Unwrap returns the transport's error.
func (e *H2CError) Unwrap() error { return e.Err }

// message says what went wrong with target and what to do.
func (e *H2CError) message(target string) string {
	msg := fmt.Sprintf("%s did not answer HTTP/2 with prior knowledge (h2c): it may speak only HTTP/1.1 (%s); ", target, lastPart(e.Err))
	if e.Reason == "grpc" {
		return msg + "gRPC requests to an http:// target go as h2c, so serve h2c on the target, or give an https:// target that offers HTTP/2"
	}
	return msg + "drop " + UpstreamH2CFlag + " (or the route's upstream_h2c) for this target, or serve h2c on it"
}

// refusedH2C reports whether err from an h2c round trip means the upstream
// did not speak h2c, rather than being unreachable or the client leaving.
func refusedH2C(err error, clientGone bool) bool {
	var (
		dnsErr *net.DNSError
		netErr net.Error
	)
	// A stream error (RST_STREAM) came in HTTP/2 frames: the upstream
	// speaks h2c and reset this one request (a gRPC server does when the
	// call's deadline passes). net/http does not export its type.
	if strings.Contains(err.Error(), "stream error: ") {
		return false
	}
	return !clientGone && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, syscall.ECONNREFUSED) && !errors.As(err, &dnsErr) &&
		!(errors.As(err, &netErr) && netErr.Timeout()) && !errors.Is(err, ErrTunnelLost)
}
