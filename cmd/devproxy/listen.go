package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// parseListen reads a listen address as every role takes it (--listen, the
// config file's listen:, a reload of it) and returns it as host:port. A port
// alone, "8091" or ":8091", means 127.0.0.1:8091: devproxy listens on
// loopback unless told otherwise, and 0.0.0.0:8091 or [::]:8091 is how to
// say otherwise. The error says what is wrong with raw and what to write;
// the caller puts the flag or key in front of it.
func parseListen(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if isPort(s) {
		return net.JoinHostPort("127.0.0.1", s), nil
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		if host == "" {
			host = "127.0.0.1:8080"
		}
		return "", fmt.Errorf("%q: give host:port without %s://, e.g. %s", raw, scheme, host)
	}
	host, port, err := net.SplitHostPort(s)
	switch {
	case s != "" && strings.TrimLeft(s, "0123456789") == "":
		return "", fmt.Errorf("%q: port %s is not a number from 0 to 65535 (0 picks a free one)", raw, s)
	case s == "":
		return "", fmt.Errorf("%q is empty; give host:port or a port, e.g. 127.0.0.1:8080 or 8080", raw)
	case err != nil && !strings.Contains(s, ":"):
		return "", fmt.Errorf("%q has no port, e.g. %s", raw, net.JoinHostPort(s, "8080"))
	case err != nil && strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
		return "", fmt.Errorf("%q: put an IPv6 address in brackets, e.g. [::1]:8080", raw)
	case err != nil:
		return "", fmt.Errorf("%q is not host:port or a port, e.g. 127.0.0.1:8080, or 8080 for 127.0.0.1:8080", raw)
	case port == "":
		return "", fmt.Errorf("%q has no port, e.g. %s", raw, net.JoinHostPort(orLoopback(host), "8080"))
	case !isPort(port):
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535 (0 picks a free one)", raw, port)
	}
	return net.JoinHostPort(orLoopback(host), port), nil
}

// isPort reports whether s is a TCP port number, 0 to 65535.
func isPort(s string) bool {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n <= 65535
}

// orLoopback is host, or 127.0.0.1 when it is empty (":8091").
func orLoopback(host string) string {
	if host == "" {
		return "127.0.0.1"
	}
	return host
}
