package tui

import (
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/devproxy/devproxy/internal/bodyview"
)

// theme is the small palette every style is built from.
type theme struct {
	fg, muted, faint, accent   color.Color
	barBg, barFg               color.Color
	selBg, selFg, selDimBg     color.Color
	ok, redirect, clientErr    color.Color
	serverErr, info, warn      color.Color
	get, post, put, del, other color.Color
	jsonKey, jsonStr, jsonNum  color.Color
	jsonLit                    color.Color
	matchBg, matchFg, curBg    color.Color
	border                     color.Color
	// intercept marks what a breakpoint holds (mitmproxy's brown-orange).
	intercept color.Color
	phases    [7]color.Color // blocked, dns, connect, tls, send, wait, receive
}

// darkTheme and lightTheme use ANSI-256 colours so that they degrade well
// on 256- and 16-colour terminals.
func darkTheme() theme {
	c := lipgloss.Color
	return theme{
		fg: c("252"), muted: c("245"), faint: c("240"), accent: c("81"),
		barBg: c("236"), barFg: c("252"),
		selBg: c("24"), selFg: c("231"), selDimBg: c("238"),
		ok: c("78"), redirect: c("75"), clientErr: c("221"), serverErr: c("203"), info: c("117"), warn: c("215"),
		get: c("75"), post: c("78"), put: c("221"), del: c("203"), other: c("176"),
		jsonKey: c("117"), jsonStr: c("150"), jsonNum: c("215"), jsonLit: c("176"),
		matchBg: c("58"), matchFg: c("230"), curBg: c("136"),
		border: c("239"), intercept: c("208"),
		phases: [7]color.Color{c("244"), c("37"), c("215"), c("176"), c("75"), c("78"), c("117")},
	}
}

func lightTheme() theme {
	c := lipgloss.Color
	return theme{
		fg: c("235"), muted: c("242"), faint: c("249"), accent: c("25"),
		barBg: c("254"), barFg: c("235"),
		selBg: c("153"), selFg: c("16"), selDimBg: c("252"),
		ok: c("28"), redirect: c("25"), clientErr: c("130"), serverErr: c("160"), info: c("31"), warn: c("166"),
		get: c("25"), post: c("28"), put: c("130"), del: c("160"), other: c("90"),
		jsonKey: c("25"), jsonStr: c("28"), jsonNum: c("130"), jsonLit: c("90"),
		matchBg: c("228"), matchFg: c("16"), curBg: c("214"),
		border: c("250"), intercept: c("130"),
		phases: [7]color.Color{c("245"), c("30"), c("166"), c("90"), c("25"), c("28"), c("31")},
	}
}

// styles is every style the UI draws with, built once per theme. With mono
// set (NO_COLOR, or a terminal without colours) it uses only bold, faint,
// underline and reverse video, so selection and badges stay visible.
type styles struct {
	mono bool
	gen  int // bumped on every rebuild; part of every render memo key
	// body is the same styles as escape codes for bodyview.Render.
	body *bodyview.Palette

	text, muted, faint, accent, bold lipgloss.Style

	bar, barTitle, barMuted                 lipgloss.Style
	badgeFollow, badgePaused, badgeWarn     lipgloss.Style
	colHeader                               lipgloss.Style
	sel, selDim                             lipgloss.Style
	ok, redirect, clientErr, serverErr, err lipgloss.Style
	inflight, slow                          lipgloss.Style
	intercept                               lipgloss.Style // held by a breakpoint
	get, post, put, del, other              lipgloss.Style
	replay                                  lipgloss.Style

	tab, tabActive, section, hdrName, note, warnNote lipgloss.Style
	jsonKey, jsonStr, jsonNum, jsonLit, jsonPunct    lipgloss.Style
	hexOffset, hexASCII                              lipgloss.Style
	match, curMatch                                  lipgloss.Style
	phases                                           [7]lipgloss.Style
	track                                            lipgloss.Style

	border, popup, popupTitle, key, keyDesc lipgloss.Style
	input, inputErr, statusInfo, statusErr  lipgloss.Style

	// Event log levels.
	evDebug, evInfo, evWarn, evError lipgloss.Style

	// row is the list rows' styles as paints.
	row rowPaints
}

// paint is a style as the escape codes it puts around a text, for text
// drawn so often that lipgloss's Render costs: the list's rows, up to a
// screenful of new ones per frame while traffic flows. Render gives what
// the style's Render gives.
type paint struct {
	style    lipgloss.Style
	pre, suf string
	// exact says the style's Render of one line is the affixes around it;
	// it is not when spaces are styled apart, or the style pads or sizes
	// its text. Render then calls the style's.
	exact bool
}

// newPaint is s as a paint.
func newPaint(s lipgloss.Style) paint {
	p := paint{style: s}
	p.pre, p.suf = affixes(s)
	const probe = "a b"
	p.exact = s.Render(probe) == p.pre+probe+p.suf && s.Render("") == p.pre+p.suf
	return p
}

// Render styles text as the style's Render would.
func (p *paint) Render(text string) string {
	if !p.exact || strings.ContainsAny(text, "\t\r\n") {
		return p.style.Render(text)
	}
	return p.pre + text + p.suf
}

// rowPaints are the styles a list row is drawn with.
type rowPaints struct {
	accent, muted, text, replay, slow  paint
	ok, redirect, clientErr, serverErr paint
	err, inflight, intercept           paint
	get, post, put, del, other         paint
}

func rowPaintsOf(s *styles) rowPaints {
	return rowPaints{
		accent: newPaint(s.accent), muted: newPaint(s.muted), text: newPaint(s.text),
		replay: newPaint(s.replay), slow: newPaint(s.slow),
		ok: newPaint(s.ok), redirect: newPaint(s.redirect), clientErr: newPaint(s.clientErr), serverErr: newPaint(s.serverErr),
		err: newPaint(s.err), inflight: newPaint(s.inflight), intercept: newPaint(s.intercept),
		get: newPaint(s.get), post: newPaint(s.post), put: newPaint(s.put), del: newPaint(s.del), other: newPaint(s.other),
	}
}

func newStyles(t theme, mono bool, gen int) *styles {
	s := themeStyles(t, mono, gen)
	s.body = bodyPaletteOf(s)
	s.row = rowPaintsOf(s)
	return s
}

// themeStyles makes the lipgloss styles of theme t (or of a terminal
// without colours).
func themeStyles(t theme, mono bool, gen int) *styles {
	n := lipgloss.NewStyle
	s := &styles{mono: mono, gen: gen}
	if mono {
		s.text, s.muted, s.faint, s.accent, s.bold = n(), n(), n().Faint(true), n().Bold(true), n().Bold(true)
		s.bar, s.barTitle, s.barMuted = n().Reverse(true), n().Reverse(true).Bold(true), n().Reverse(true)
		s.badgeFollow = n().Bold(true)
		s.badgePaused = n().Bold(true).Blink(false).Underline(true)
		s.badgeWarn = n().Bold(true)
		s.colHeader = n().Bold(true).Underline(true)
		s.sel, s.selDim = n().Reverse(true), n().Underline(true)
		s.ok, s.redirect, s.clientErr, s.serverErr, s.err = n(), n(), n().Bold(true), n().Bold(true), n().Bold(true)
		s.inflight, s.slow = n(), n().Bold(true)
		s.intercept = n().Bold(true).Underline(true)
		s.get, s.post, s.put, s.del, s.other = n(), n(), n(), n(), n()
		s.replay = n().Bold(true)
		s.tab, s.tabActive = n(), n().Reverse(true).Bold(true)
		s.section, s.hdrName, s.note, s.warnNote = n().Bold(true).Underline(true), n().Bold(true), n().Faint(true), n().Bold(true)
		s.jsonKey, s.jsonStr, s.jsonNum, s.jsonLit, s.jsonPunct = n().Bold(true), n(), n(), n(), n()
		s.hexOffset, s.hexASCII = n().Faint(true), n()
		s.match, s.curMatch = n().Underline(true), n().Reverse(true)
		for i := range s.phases {
			s.phases[i] = n()
		}
		s.track = n().Faint(true)
		s.border, s.popup, s.popupTitle = n(), n(), n().Bold(true)
		s.key, s.keyDesc = n().Bold(true), n()
		s.input, s.inputErr, s.statusInfo, s.statusErr = n(), n().Bold(true), n(), n().Bold(true)
		s.evDebug, s.evInfo, s.evWarn, s.evError = n().Faint(true), n(), n().Bold(true), n().Bold(true).Reverse(true)
		return s
	}
	s.text = n().Foreground(t.fg)
	s.muted = n().Foreground(t.muted)
	s.faint = n().Foreground(t.faint)
	s.accent = n().Foreground(t.accent)
	s.bold = n().Bold(true)
	s.bar = n().Background(t.barBg).Foreground(t.barFg)
	s.barTitle = s.bar.Foreground(t.accent).Bold(true)
	s.barMuted = s.bar.Foreground(t.muted)
	s.badgeFollow = n().Background(t.ok).Foreground(lipgloss.Color("16")).Bold(true)
	s.badgePaused = n().Background(t.serverErr).Foreground(lipgloss.Color("231")).Bold(true)
	s.badgeWarn = s.bar.Foreground(t.warn)
	s.colHeader = n().Foreground(t.muted).Bold(true)
	s.sel = n().Background(t.selBg).Foreground(t.selFg)
	s.selDim = n().Background(t.selDimBg).Foreground(t.fg)
	s.ok = n().Foreground(t.ok)
	s.redirect = n().Foreground(t.redirect)
	s.clientErr = n().Foreground(t.clientErr)
	s.serverErr = n().Foreground(t.serverErr)
	s.err = n().Foreground(t.serverErr).Bold(true)
	s.inflight = n().Foreground(t.info)
	s.slow = n().Foreground(t.warn)
	s.intercept = n().Foreground(t.intercept).Bold(true)
	s.get = n().Foreground(t.get)
	s.post = n().Foreground(t.post)
	s.put = n().Foreground(t.put)
	s.del = n().Foreground(t.del)
	s.other = n().Foreground(t.other)
	s.replay = n().Foreground(t.other)
	s.tab = n().Foreground(t.muted)
	s.tabActive = n().Foreground(t.accent).Bold(true).Underline(true)
	s.section = n().Foreground(t.accent).Bold(true)
	s.hdrName = n().Foreground(t.info)
	s.note = n().Foreground(t.muted).Italic(true)
	s.warnNote = n().Foreground(t.warn)
	s.jsonKey = n().Foreground(t.jsonKey)
	s.jsonStr = n().Foreground(t.jsonStr)
	s.jsonNum = n().Foreground(t.jsonNum)
	s.jsonLit = n().Foreground(t.jsonLit)
	s.jsonPunct = n().Foreground(t.muted)
	s.hexOffset = n().Foreground(t.faint)
	s.hexASCII = n().Foreground(t.muted)
	s.match = n().Background(t.matchBg).Foreground(t.matchFg)
	s.curMatch = n().Background(t.curBg).Foreground(lipgloss.Color("16")).Bold(true)
	for i := range s.phases {
		s.phases[i] = n().Foreground(t.phases[i])
	}
	s.track = n().Foreground(t.faint)
	s.border = n().Foreground(t.border)
	s.popup = n().Border(lipgloss.RoundedBorder()).BorderForeground(t.accent).Padding(0, 1)
	s.popupTitle = n().Foreground(t.accent).Bold(true)
	s.key = n().Foreground(t.accent).Bold(true)
	s.keyDesc = n().Foreground(t.fg)
	s.input = n().Foreground(t.fg)
	s.inputErr = n().Foreground(t.serverErr)
	s.statusInfo = n().Foreground(t.info)
	s.statusErr = n().Foreground(t.serverErr).Bold(true)
	s.evDebug = n().Foreground(t.faint)
	s.evInfo = n().Foreground(t.info)
	s.evWarn = n().Foreground(t.warn).Bold(true)
	s.evError = n().Foreground(t.serverErr).Bold(true)
	return s
}

// popupStyle is the box around pop-ups; in mono it keeps a plain border.
func (s *styles) popupBox() lipgloss.Style {
	if s.mono {
		return lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	}
	return s.popup
}

// statusStyle colours a status code by class.
func (s *styles) statusStyle(code int) lipgloss.Style { return s.statusPaint(code).style }

// statusPaint is statusStyle as a paint.
func (s *styles) statusPaint(code int) *paint {
	switch {
	case code >= 500:
		return &s.row.serverErr
	case code >= 400:
		return &s.row.clientErr
	case code >= 300:
		return &s.row.redirect
	case code >= 200:
		return &s.row.ok
	}
	return &s.row.muted
}

// methodStyle colours a request method.
func (s *styles) methodStyle(m string) lipgloss.Style { return s.methodPaint(m).style }

// methodPaint is methodStyle as a paint.
func (s *styles) methodPaint(m string) *paint {
	switch m {
	case "GET", "HEAD":
		return &s.row.get
	case "POST":
		return &s.row.post
	case "PUT", "PATCH":
		return &s.row.put
	case "DELETE":
		return &s.row.del
	}
	return &s.row.other
}

// styleInput gives a line input the current styles.
func (st *styles) styleInput(in *lineInput) {
	in.promptStyle, in.textStyle, in.cursorStyle = st.accent, st.text, lipgloss.NewStyle().Reverse(true)
}
