package invert

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Carriers: how the tunnel's connection reaches the relay (see tunnel.go).

// handshakeTimeout bounds each way of opening the tunnel.
const handshakeTimeout = 10 * time.Second

// carrier names a way to the relay, for logs.
type carrier string

const (
	carrierUpgrade   carrier = "upgrade"
	carrierWebSocket carrier = "websocket"
)

// dialedConnKey carries, in a handshake request's context, where the
// transport's dialer leaves the connection it made (see upgradeClient).
type dialedConnKey struct{}

// upgradeClient returns a client for tunnel handshakes: HTTP/1.1 only (an
// Upgrade cannot cross HTTP/2, which an https relay would otherwise
// negotiate), a fresh connection each time, and a dialer that leaves the
// connection it made where the request's context says, so an upgraded
// connection has real deadlines and addresses.
func upgradeClient(base *http.Transport) *http.Client {
	tr := base.Clone()
	var h1 http.Protocols
	h1.SetHTTP1(true)
	tr.Protocols = &h1
	tr.ForceAttemptHTTP2 = false
	// Clone set base up for HTTP/2 first, and copied the ALPN list it
	// made: without this, an https relay picks h2 under the handshake.
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.DisableKeepAlives = true
	dialer := &net.Dialer{Timeout: handshakeTimeout, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if slot, ok := ctx.Value(dialedConnKey{}).(*net.Conn); ok && err == nil {
			*slot = c
		}
		return c, err
	}
	return &http.Client{Transport: tr}
}

// upgradedConn is the connection under a 101 answer: reads through the
// answer's body (which holds what the transport read ahead), writes straight
// to the connection; deadlines and addresses from the TCP connection under
// it (a TLS connection's deadlines are its TCP connection's).
type upgradedConn struct {
	io.ReadWriteCloser
	tcp net.Conn
}

func (c *upgradedConn) LocalAddr() net.Addr                { return c.tcp.LocalAddr() }
func (c *upgradedConn) RemoteAddr() net.Addr               { return c.tcp.RemoteAddr() }
func (c *upgradedConn) SetDeadline(t time.Time) error      { return c.tcp.SetDeadline(t) }
func (c *upgradedConn) SetReadDeadline(t time.Time) error  { return c.tcp.SetReadDeadline(t) }
func (c *upgradedConn) SetWriteDeadline(t time.Time) error { return c.tcp.SetWriteDeadline(t) }

// handshakeHeaders are the agent's credentials and names on every way of
// opening the tunnel.
func (a *Agent) handshakeHeaders() http.Header {
	h := http.Header{}
	a.authorize(h)
	h.Set(HeaderTunnelBackend, a.opts.Backend)
	// A relay of the reference implementation treats a request without its
	// backend header as an end user's and would queue it for some agent;
	// with the header and an unknown request id it answers 404 at once, so
	// auto mode can fall back. Our relay routes by path and ignores both.
	h.Set(HeaderBackendID, a.opts.Backend)
	h.Set(HeaderRequestID, "devproxy-tunnel-probe")
	return h
}

// tunnelURL is the tunnel endpoint of the relay at base, as http(s) or
// ws(s).
func tunnelURL(base *url.URL, ws bool) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + TunnelPath
	if ws {
		u.Scheme = map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
	}
	return u.String()
}

// errRefused: the relay (or something on the way) answered a handshake
// with something other than the upgrade; the other carrier may work.
type errRefused struct {
	status int
	ours   bool // the answer came from a devproxy relay
	err    error
}

func (e *errRefused) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

// refusal turns a handshake's non-101 answer into an error: rejected
// credentials (final), or a refusal.
func refusal(res *http.Response, err error) error {
	ours := res.Header.Get(HeaderRelay) != ""
	if ours && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%w: %s", ErrAgentRejected, responseText(res))
	}
	return &errRefused{status: res.StatusCode, ours: ours, err: err}
}

// dialUpgrade asks the relay at base for a direct tunnel speaking proto.
func (a *Agent) dialUpgrade(ctx context.Context, base *url.URL, proto string) (net.Conn, error) {
	var tcp net.Conn
	ctx = context.WithValue(ctx, dialedConnKey{}, &tcp)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tunnelURL(base, false), nil)
	if err != nil {
		return nil, err
	}
	req.Header = a.handshakeHeaders()
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", proto)
	res, err := a.handshake.Do(req)
	if err != nil {
		return nil, err
	}
	rwc, ok := res.Body.(io.ReadWriteCloser)
	if res.StatusCode != http.StatusSwitchingProtocols || !ok || tcp == nil || !strings.EqualFold(res.Header.Get("Upgrade"), proto) {
		defer res.Body.Close()
		if res.StatusCode == http.StatusSwitchingProtocols {
			return nil, &errRefused{status: res.StatusCode, err: fmt.Errorf("the relay switched to %q, not %q", res.Header.Get("Upgrade"), proto)}
		}
		return nil, refusal(res, nil)
	}
	return &upgradedConn{ReadWriteCloser: rwc, tcp: tcp}, nil
}

// dialWebSocket opens the tunnel to the relay at base over a WebSocket,
// offering subprotocols; it returns the one the relay chose ("" for none).
func (a *Agent) dialWebSocket(ctx context.Context, base *url.URL, subprotocols []string) (net.Conn, string, error) {
	c, res, err := websocket.Dial(ctx, tunnelURL(base, true), &websocket.DialOptions{
		HTTPClient: a.handshake, HTTPHeader: a.handshakeHeaders(), Subprotocols: subprotocols,
	})
	if err != nil {
		if res != nil {
			return nil, "", refusal(res, nil)
		}
		return nil, "", err
	}
	// The connection lives beyond the dial's context.
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary), c.Subprotocol(), nil
}

// Relay side.

// hasToken reports whether a comma-separated header holds token.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// acceptUpgrade answers an agent's Upgrade to proto with 101 and returns
// the connection.
func acceptUpgrade(w http.ResponseWriter, proto string) (net.Conn, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "devproxy relay: the tunnel needs an HTTP/1.1 connection to upgrade: "+err.Error(), http.StatusInternalServerError)
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: 1\r\n\r\n", proto, HeaderRelay)
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if n := brw.Reader.Buffered(); n > 0 {
		// The agent wrote ahead: read that first.
		return &prefixConn{Conn: conn, r: io.MultiReader(io.LimitReader(brw.Reader, int64(n)), conn)}, nil
	}
	return conn, nil
}

// prefixConn reads r (buffered bytes, then the connection) before the
// connection itself.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }
