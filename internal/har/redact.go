package har

// Redaction of HAR entries, with the redact package's Redactor: bodies as
// newHARBody renders them, the rest of an entry here. The entry's strings
// and slices are fresh copies, so the recorded exchanges are never touched.

import "github.com/devproxy/devproxy/internal/redact"

// redactEntry redacts everything in e but the bodies, which newHARBody
// redacted as they were rendered.
func redactEntry(r *redact.Redactor, e *harEntry) {
	if r.Level() == redact.None {
		return
	}
	hss := [][]harNV{e.Request.Headers, e.Request.Trailers, e.Response.Headers, e.Response.Trailers}
	if e.Request.Sent != nil {
		hss = append(hss, e.Request.Sent.Headers)
		e.Request.Sent.URL = r.URL(e.Request.Sent.URL)
	}
	if e.Response.Upstream != nil {
		hss = append(hss, e.Response.Upstream.Headers)
	}
	for _, hs := range hss {
		for i := range hs {
			hs[i].Value = r.Header(hs[i].Name, hs[i].Value)
		}
	}
	// The cookies arrays are parsed again from the redacted headers, so
	// that the export reads back to the same arrays.
	e.Request.Cookies, e.Response.Cookies = requestCookies(e.Request.Headers), responseCookies(e.Response.Headers)
	for _, cs := range [][]harCookie{e.Request.Cookies, e.Response.Cookies} {
		for i := range cs {
			cs[i].Value = redact.Marker
		}
	}
	e.Request.URL = r.URL(e.Request.URL)
	e.Request.UpstreamURL = r.URL(e.Request.UpstreamURL)
	e.Response.RedirectURL = r.URL(e.Response.RedirectURL)
	// queryString is parsed again from the redacted URL: secret values
	// read "[redacted]", and names keep agreeing with the URL.
	e.Request.QueryString = queryPairs(e.Request.URL)
	e.Response.Error = r.Text(e.Response.Error)
	for i := range e.Marks {
		e.Marks[i].Value = r.Text(e.Marks[i].Value)
	}
}
