package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/devproxy/devproxy/internal/record"
)

// StatusClientClosed is logged for exchanges the client abandoned (nginx's
// 499); nothing is written to the client.
const StatusClientClosed = 499

// ErrTunnelLost is returned by transports whose connection to an agent broke;
// exchanges that fail with it are recorded as "tunnel lost".
var ErrTunnelLost = errors.New("tunnel to the agent was lost")

// NoAgentError is returned by a relay transport when no agent serves a backend.
type NoAgentError struct{ Backend string }

func (e *NoAgentError) Error() string {
	return fmt.Sprintf("no agent is connected for backend %q", e.Backend)
}

// classify maps a round-trip error to what the client is told and how the
// exchange is recorded. clientGone reports whether the client's request
// context ended.
func classify(err error, target string, clientGone bool) *record.Error {
	var (
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		noAgent  *NoAgentError
		netErr   net.Error
		h2cErr   *H2CError
	)
	switch {
	case clientGone || errors.Is(err, context.Canceled):
		return &record.Error{Kind: record.ErrCanceled, Message: "client went away before the response", Status: StatusClientClosed}
	case errors.As(err, &h2cErr) && refusedH2C(err, clientGone):
		return &record.Error{Kind: record.ErrProtocol, Message: h2cErr.message(target), Status: http.StatusBadGateway}
	case errors.Is(err, ErrNoUpstream):
		return &record.Error{Kind: record.ErrUnreachable, Message: err.Error(), Status: http.StatusServiceUnavailable}
	case errors.As(err, &noAgent):
		return &record.Error{Kind: record.ErrNoAgent, Message: noAgent.Error(), Status: http.StatusServiceUnavailable}
	case errors.Is(err, ErrTunnelLost):
		return &record.Error{Kind: record.ErrTunnelLost, Message: ErrTunnelLost.Error(), Status: http.StatusBadGateway}
	case errors.As(err, &dnsErr):
		return &record.Error{Kind: record.ErrDNS, Message: fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err), Status: http.StatusBadGateway}
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return &record.Error{Kind: record.ErrTLS, Message: fmt.Sprintf("TLS certificate of %s not accepted: %s", target, tlsReason(err)), Status: http.StatusBadGateway}
	case errors.As(err, &recErr):
		return &record.Error{Kind: record.ErrTLS, Message: fmt.Sprintf("%s does not speak TLS (is the target http:// rather than https://?)", target), Status: http.StatusBadGateway}
	case errors.As(err, &alertErr), strings.Contains(err.Error(), "tls: "):
		return &record.Error{Kind: record.ErrTLS, Message: fmt.Sprintf("TLS handshake with %s failed: %s", target, tlsReason(err)), Status: http.StatusBadGateway}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &record.Error{Kind: record.ErrTimeout, Message: fmt.Sprintf("%s did not answer in time: %s", target, lastPart(err)), Status: http.StatusGatewayTimeout}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &record.Error{Kind: record.ErrUnreachable, Message: fmt.Sprintf("%s refused the connection (is it running?)", target), Status: http.StatusBadGateway}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &record.Error{Kind: record.ErrUnreachable, Message: fmt.Sprintf("%s closed the connection without a response", target), Status: http.StatusBadGateway}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &record.Error{Kind: record.ErrUnreachable, Message: fmt.Sprintf("no route to %s", target), Status: http.StatusBadGateway}
	case strings.Contains(err.Error(), "malformed HTTP"), strings.Contains(err.Error(), "switch protocol"), strings.Contains(err.Error(), "invalid protocol"):
		return &record.Error{Kind: record.ErrProtocol, Message: fmt.Sprintf("%s: %s", target, lastPart(err)), Status: http.StatusBadGateway}
	default:
		return &record.Error{Kind: record.ErrUnreachable, Message: fmt.Sprintf("%s: %s", target, lastPart(err)), Status: http.StatusBadGateway}
	}
}

// tlsReason is the innermost message of a TLS failure, without the URL and
// dial noise net/http wraps around it.
func tlsReason(err error) string {
	msg := lastPart(err)
	return strings.TrimPrefix(msg, "tls: ")
}

// lastPart strips the "Get \"http://...\": dial tcp ...:" prefixes that
// url.Error and net.OpError add, keeping the cause.
func lastPart(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// writeError sends a one-line plain-text error to the client.
func writeError(w http.ResponseWriter, e *record.Error) {
	if e.Status == StatusClientClosed || e.Status == 0 {
		return
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, "devproxy: %d %s: %s\n", e.Status, http.StatusText(e.Status), e.Message)
}

// ClientLostError is the cause a server in front of the engine gives the
// requests it cancels when it loses the connection their client was on:
// the agent, when its tunnel to the relay breaks. The engine records those
// exchanges as lost with Reason, instead of "client went away".
type ClientLostError struct{ Reason string }

func (e *ClientLostError) Error() string { return e.Reason }

// clientLost refines e, a client that went away, with the cause ctx was
// cancelled with when that is a *ClientLostError.
func clientLost(ctx context.Context, e *record.Error) *record.Error {
	var lost *ClientLostError
	if e == nil || e.Kind != record.ErrCanceled || !errors.As(context.Cause(ctx), &lost) {
		return e
	}
	return &record.Error{Kind: record.ErrTunnelLost, Message: lost.Reason, Status: e.Status}
}
