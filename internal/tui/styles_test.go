package tui

import (
	"testing"

	"charm.land/lipgloss/v2"
)

// TestPaintRendersAsItsStyle checks that the list rows' paints draw text
// exactly as their lipgloss styles do, in every theme.
func TestPaintRendersAsItsStyle(t *testing.T) {
	texts := []string{"", "a", "GET    ", "  12ms", "/api/v1/users/7?x=1 …", "héllo wörld", "tab\there", "two\nlines"}
	for _, c := range []struct {
		name string
		st   *styles
	}{
		{"dark", newStyles(darkTheme(), false, 1)},
		{"light", newStyles(lightTheme(), false, 1)},
		{"mono", newStyles(darkTheme(), true, 1)},
	} {
		r := &c.st.row
		paints := map[string]*paint{
			"accent": &r.accent, "muted": &r.muted, "text": &r.text, "replay": &r.replay, "slow": &r.slow,
			"ok": &r.ok, "redirect": &r.redirect, "clientErr": &r.clientErr, "serverErr": &r.serverErr,
			"err": &r.err, "inflight": &r.inflight,
			"get": &r.get, "post": &r.post, "put": &r.put, "del": &r.del, "other": &r.other,
		}
		for name, p := range paints {
			for _, s := range texts {
				if got, want := p.Render(s), p.style.Render(s); got != want {
					t.Errorf("%s %s: Render(%q) = %q, the style gives %q", c.name, name, s, got, want)
				}
			}
		}
	}
	// A style that sizes its text is drawn by lipgloss.
	p := newPaint(lipgloss.NewStyle().Width(6).Foreground(lipgloss.Color("81")))
	if p.exact {
		t.Fatal("a paint of a style with a width says its affixes are exact")
	}
	if got, want := p.Render("ab"), p.style.Render("ab"); got != want {
		t.Errorf("sized style: %q, want %q", got, want)
	}
}
