package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/devproxy/devproxy/internal/record"
)

// cellWidth is the cells s (which may hold ANSI styles) takes. Printable
// ASCII, the most of what the list shows, is one cell a byte: counted
// without ansi.StringWidth's grapheme segmentation, which a screenful of
// new rows a frame would otherwise pay for every cell.
func cellWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return ansi.StringWidth(s)
		}
	}
	return len(s)
}

// fit pads or truncates s (which may hold ANSI styles) to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := cellWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	if n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// fitRight is fit with the text aligned right.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := cellWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-n) + s
}

// truncate shortens s to at most w cells with an ellipsis.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if cellWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// compactSize is the list's size column: 0, 512B, 1.2K, 34K, 1.2M.
func compactSize(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return strconv.FormatInt(n, 10) + "B"
	case n < 10*k:
		return strconv.FormatFloat(float64(n)/k, 'f', 1, 64) + "K"
	case n < k*k:
		return strconv.FormatInt(n/k, 10) + "K"
	case n < 10*k*k:
		return strconv.FormatFloat(float64(n)/(k*k), 'f', 1, 64) + "M"
	case n < k*k*k:
		return strconv.FormatInt(n/(k*k), 10) + "M"
	}
	return strconv.FormatFloat(float64(n)/(k*k*k), 'f', 1, 64) + "G"
}

// compactDur is the list's duration column: 12ms, 1.23s, 12.3s, 2m03s.
func compactDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		m := int(d / time.Minute)
		s := int((d % time.Minute) / time.Second)
		return strconv.Itoa(m) + "m" + pad2(s) + "s"
	}
	h := int(d / time.Hour)
	m := int((d % time.Hour) / time.Minute)
	return strconv.Itoa(h) + "h" + pad2(m) + "m"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// ms formats a duration as milliseconds with one decimal: "12.3 ms".
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// shortType is a content type as the list shows it: the subtype of
// application/ and text/ types, the full type otherwise.
func shortType(ct string) string {
	for _, p := range []string{"application/", "text/"} {
		if strings.HasPrefix(ct, p) {
			ct = ct[len(p):]
			break
		}
	}
	ct = strings.TrimPrefix(ct, "x-")
	return ct
}

// shortCause is the few words after ERR in the status column.
func shortCause(e *record.Error) string {
	msg := strings.ToLower(e.Message)
	switch e.Kind {
	case record.ErrUnreachable:
		switch {
		case strings.Contains(msg, "refused"):
			return "refused"
		case strings.Contains(msg, "no route"):
			return "noroute"
		case strings.Contains(msg, "closed"), strings.Contains(msg, "reset"), strings.Contains(msg, "eof"):
			return "closed"
		}
		return "unreach"
	case record.ErrDNS:
		return "dns"
	case record.ErrTLS:
		return "tls"
	case record.ErrTimeout:
		return "timeout"
	case record.ErrCanceled:
		return "cancel"
	case record.ErrTunnelLost:
		return "tunnel"
	case record.ErrNoAgent:
		return "noagent"
	case record.ErrProtocol:
		return "proto"
	case record.ErrLoop:
		return "loop"
	case record.ErrAborted:
		return "aborted"
	case record.ErrRejected:
		return "reject"
	}
	return "error"
}

// hostPath is the list's URL column: the URL without its scheme.
func hostPath(x *record.Exchange) string {
	u := x.Request.URL
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else if x.Request.Host != "" && strings.HasPrefix(u, "/") {
		u = x.Request.Host + u
	}
	return sanitizeLine(u)
}

// sanitizeLine replaces control characters, which would move the cursor or
// restyle the terminal, with visible stand-ins.
func sanitizeLine(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean && !strings.ContainsRune(s, '\u009b') {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20:
			b.WriteRune(0x2400 + r) // ␀..␟
		case r == 0x7f:
			b.WriteRune('␡')
		case r >= 0x80 && r < 0xa0:
			b.WriteRune('·')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
