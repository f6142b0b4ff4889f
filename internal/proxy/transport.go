package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
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
}

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
