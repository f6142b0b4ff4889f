package record

import (
	"bytes"
	"compress/gzip"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"time"
)

// Fixtures for the HAR, curl and raw tests: deterministic exchanges with
// fixed times, one per situation the exporters must get right.

var fixtureStart = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

func fxAt(ms int) time.Time { return fixtureStart.Add(time.Duration(ms) * time.Millisecond) }

func fxMs(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func gzipBytes(p []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func completeBody(b []byte) Body { return Body{Bytes: b, Size: int64(len(b)), Complete: true} }

// tlsTimings are the phases of a fresh HTTPS connection.
var tlsTimings = Timings{Blocked: fxMs(0.412), DNS: fxMs(1.5), Connect: fxMs(23.25), TLS: fxMs(15.125), Send: fxMs(0.094), Wait: fxMs(41.7), Receive: fxMs(2.008)}

// reusedTimings are the phases on a kept-alive connection.
var reusedTimings = Timings{Blocked: fxMs(0.05), DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.031), Wait: fxMs(12.5), Receive: fxMs(0.6)}

func tinyPNG() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := range 16 {
		img.Set(i%4, i/4, color.NRGBA{uint8(i * 16), 0x80, 0xff - uint8(i*16), 0xff})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

const usersJSON = `{"page":2,"per_page":20,"users":[{"id":21,"name":"Ada Lovelace","email":"ada@example.test"},{"id":22,"name":"Grace Hopper","email":"grace@example.test"}]}`

// testJWT is a made-up HS256 token (header {"alg":"HS256","typ":"JWT"},
// payload {"sub":"1234567890","name":"Ada"}), signature included.
const testJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1ub3QtcmVhbA"

// goldenCases lists each golden HAR file (testdata/har/NAME.har), the
// exchanges it is made from and the redaction it is exported with.
func goldenCases() []struct {
	name   string
	redact Redaction
	xs     []Exchange
} {
	gzBody := gzipBytes([]byte(usersJSON))
	pngBody := tinyPNG()
	sse := "retry: 3000\n\nevent: tick\nid: 1\ndata: {\"n\":1}\n\nevent: tick\nid: 2\ndata: {\"n\":2}\n\n"
	bigText := strings.Repeat("0123456789abcdef", 320) // 5120 bytes
	secretsBody := `{"user":"ada","password":"hunter2","profile":{"nickname":"countess","api_key":"k-123"},"tokens":[{"access_token":"` + testJWT + `","expires_in":3600}],"note":"bearer ` + testJWT + `"}`

	type C = struct {
		name   string
		redact Redaction
		xs     []Exchange
	}
	return []C{
		{"gzip_json", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(85), State: Done,
			ClientAddr: "127.0.0.1:51234", ServerAddr: "203.0.113.10:443",
			Request: Request{
				Method: "GET", URL: "https://api.example.test/v1/users?page=2&per_page=20&q=ada%20l", UpstreamURL: "https://api.example.test/v1/users?page=2&per_page=20&q=ada%20l",
				Proto: "HTTP/1.1", Host: "api.example.test",
				Header: Fields{{"Accept", "application/json"}, {"Accept-Encoding", "gzip, br"}, {"User-Agent", "curl/8.5.0"}},
				Body:   Body{Complete: true},
			},
			Response: &Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: Fields{{"Content-Encoding", "gzip"}, {"Content-Length", strconv.Itoa(len(gzBody))}, {"Content-Type", "application/json; charset=utf-8"}, {"Date", "Fri, 14 Mar 2025 09:26:53 GMT"}, {"Vary", "Accept-Encoding"}},
				Body:   completeBody(gzBody),
			},
			Timings: tlsTimings,
		}}},
		{"binary_png", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0).In(time.FixedZone("CET", 3600)), End: fxAt(20), State: Done,
			ClientAddr: "127.0.0.1:51240", ServerAddr: "127.0.0.1:8080",
			Request: Request{
				Method: "GET", URL: "http://localhost:8080/static/logo.png", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Accept", "image/avif,image/webp,*/*"}},
				Body:   Body{Complete: true},
			},
			Response: &Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: Fields{{"Cache-Control", "max-age=3600"}, {"Content-Length", strconv.Itoa(len(pngBody))}, {"Content-Type", "image/png"}},
				Body:   completeBody(pngBody),
			},
			Timings: reusedTimings,
		}}},
		{"sse", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(30000), State: Done,
			ClientAddr: "127.0.0.1:51250", ServerAddr: "127.0.0.1:8080",
			Request: Request{
				Method: "GET", URL: "http://localhost:8080/events", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Accept", "text/event-stream"}, {"Cache-Control", "no-cache"}},
				Body:   Body{Complete: true},
			},
			Response: &Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: Fields{{"Cache-Control", "no-cache"}, {"Content-Type", "text/event-stream"}},
				Body:   Body{Bytes: []byte(sse), Size: int64(len(sse))},
			},
			Timings: Timings{Blocked: fxMs(0.02), DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.04), Wait: fxMs(3.1), Receive: fxMs(29996.2)},
			Err:     &Error{Kind: ErrCanceled, Message: "client went away during the response", Status: 499},
		}}},
		{"post_form", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(40), State: Done,
			ClientAddr: "127.0.0.1:51260", ServerAddr: "127.0.0.1:8080",
			Request: Request{
				Method: "POST", URL: "http://localhost:8080/login?next=%2Fhome", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Content-Length", "52"}, {"Content-Type", "application/x-www-form-urlencoded"}, {"Origin", "http://localhost:8080"}},
				Body:   completeBody([]byte("username=ada&password=hunter2&remember=on&note=a+b%26c")),
			},
			Response: &Response{
				Status: 302, Reason: "Found", Proto: "HTTP/1.1",
				Header: Fields{{"Content-Length", "0"}, {"Location", "/home"}, {"Set-Cookie", "session=3f9a1c; Path=/; HttpOnly; SameSite=Lax"}},
				Body:   Body{Complete: true},
			},
			Timings: reusedTimings,
		}}},
		{"post_json", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(60), State: Done,
			ClientAddr: "127.0.0.1:51270", ServerAddr: "127.0.0.1:8080",
			Request: Request{
				Method: "POST", URL: "http://localhost:8080/v1/orders", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Content-Type", "application/json"}, {"X-Request-Id", "req-42"}},
				Body:   completeBody([]byte(`{"item":"tea","qty":2,"options":{"milk":true,"sugar":null},"note":"naïve café ☕"}`)),
			},
			Response: &Response{
				Status: 201, Reason: "Created", Proto: "HTTP/1.1",
				Header: Fields{{"Content-Type", "application/json"}, {"Location", "/v1/orders/7"}},
				Body:   completeBody([]byte(`{"id":7,"status":"new"}` + "\n")),
			},
			Timings: reusedTimings,
		}}},
		{"server_error", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(15), State: Done,
			ClientAddr: "[::1]:51280", ServerAddr: "[fe80::1%lo0]:8080",
			Request: Request{
				Method: "DELETE", URL: "http://[::1]:8080/v1/orders/7", Proto: "HTTP/1.1", Host: "[::1]:8080",
				Body: Body{Complete: true},
			},
			Response: &Response{
				Status: 500, Reason: "Internal Server Error", Proto: "HTTP/1.1",
				Header: Fields{{"Content-Type", "text/plain; charset=utf-8"}, {"X-Content-Type-Options", "nosniff"}},
				Body:   completeBody([]byte("internal error: database is locked\n")),
			},
			Timings: Timings{Blocked: fxMs(0.1), DNS: -1, Connect: fxMs(0.3), TLS: -1, Send: fxMs(0.05), Wait: fxMs(14.2), Receive: fxMs(0.3)},
		}}},
		{"unreachable", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(2), State: Done,
			ClientAddr: "127.0.0.1:51290", ServerAddr: "127.0.0.1:9",
			Request: Request{
				Method: "GET", URL: "http://localhost:8080/health", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Accept", "*/*"}},
				Body:   Body{Complete: true},
			},
			Timings: Timings{Blocked: fxMs(0.01), DNS: fxMs(0.2), Connect: fxMs(1.1), TLS: -1, Send: -1, Wait: -1, Receive: -1},
			Err:     &Error{Kind: ErrUnreachable, Message: "dial tcp 127.0.0.1:9: connect: connection refused", Status: 502},
		}}},
		{"truncated", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(120), State: Done,
			ClientAddr: "127.0.0.1:51300", ServerAddr: "127.0.0.1:8080",
			Request: Request{
				Method: "PUT", URL: "http://localhost:8080/files/log.txt", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Content-Type", "text/plain"}},
				Body:   Body{Bytes: []byte(bigText[:96]), Size: int64(len(bigText)), Truncated: true, Complete: true},
			},
			Response: &Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: Fields{{"Content-Type", "text/plain"}},
				Body:   Body{Bytes: []byte(bigText[:96]), Size: int64(len(bigText)), Truncated: true, Complete: true},
			},
			Timings: reusedTimings,
		}}},
		{"websocket", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(61000), State: Done,
			ClientAddr: "127.0.0.1:51310", ServerAddr: "127.0.0.1:8080",
			Upgraded: true, UpgradeUp: 1532, UpgradeDn: 48211,
			Request: Request{
				Method: "GET", URL: "http://localhost:8080/ws", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Connection", "Upgrade"}, {"Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-Websocket-Version", "13"}, {"Upgrade", "websocket"}},
				Body:   Body{Complete: true},
			},
			Response: &Response{
				Status: 101, Reason: "Switching Protocols", Proto: "HTTP/1.1",
				Header: Fields{{"Connection", "Upgrade"}, {"Sec-Websocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, {"Upgrade", "websocket"}},
				Body:   Body{Complete: true},
			},
			Timings: reusedTimings,
		}}},
		{"duplicate_set_cookie", RedactDefault, []Exchange{{
			ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(30), State: Done,
			ClientAddr: "127.0.0.1:51320", ServerAddr: "127.0.0.1:8080",
			Request: Request{
				Method: "GET", URL: "http://localhost:8080/account", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: Fields{{"Cookie", "theme=dark; session=3f9a1c"}, {"X-Trace", "a"}, {"X-Trace", "b"}},
				Body:   Body{Complete: true},
			},
			Response: &Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: Fields{
					{"Content-Type", "text/html; charset=utf-8"},
					{"Set-Cookie", "session=9b2e7d; Path=/; Secure; HttpOnly"},
					{"Set-Cookie", "theme=light; Path=/; Expires=Sat, 14 Mar 2026 09:26:53 GMT"},
					{"Set-Cookie", "lang=en, fr; Domain=example.test"},
				},
				Body: completeBody([]byte("<!doctype html><title>Account</title><p>Hello, Ada & co.</p>\n")),
			},
			Timings: reusedTimings,
		}}},
		{"replay_trailers", RedactDefault, []Exchange{
			{
				ID: 7, Role: RoleRelay, Start: fxAt(0), End: fxAt(25), State: Done, Note: "backend=laptop-ada",
				ClientAddr: "198.51.100.7:40001", ServerAddr: "agent-laptop-ada",
				Request: Request{
					Method: "POST", URL: "https://relay.example.test/grpc.health.v1.Health/Check", UpstreamURL: "http://127.0.0.1:50051/grpc.health.v1.Health/Check",
					Proto: "HTTP/2.0", Host: "relay.example.test",
					Header:  Fields{{"Content-Type", "application/grpc"}, {"Te", "trailers"}},
					Trailer: Fields{{"X-Checksum", "abc"}},
					Body:    completeBody([]byte{0, 0, 0, 0, 0}),
				},
				Response: &Response{
					Status: 200, Reason: "OK", Proto: "HTTP/2.0",
					Header:  Fields{{"Content-Type", "application/grpc"}},
					Trailer: Fields{{"Grpc-Message", ""}, {"Grpc-Status", "0"}},
					Body:    completeBody([]byte{0, 0, 0, 0, 2, 8, 1}),
				},
				Timings: Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.2), Wait: fxMs(20), Receive: fxMs(0.1)},
			},
			{
				ID: 8, Role: RoleServe, ReplayOf: 7, Start: fxAt(5000), End: fxAt(5020), State: Done,
				ClientAddr: "", ServerAddr: "127.0.0.1:50051",
				Request: Request{
					Method: "POST", URL: "https://relay.example.test/grpc.health.v1.Health/Check", UpstreamURL: "http://127.0.0.1:50051/grpc.health.v1.Health/Check",
					Proto: "HTTP/2.0", Host: "relay.example.test",
					Header: Fields{{"Content-Type", "application/grpc"}, {"Te", "trailers"}},
					Body:   Body{Bytes: []byte{0, 0, 0}, Size: 3},
				},
				Response: &Response{
					Status: 200, Reason: "OK", Proto: "HTTP/2.0",
					Header: Fields{{"Content-Type", "application/grpc"}},
					Body:   Body{Bytes: []byte{0, 0, 0, 0, 2}, Size: 5},
				},
				Timings: Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.2), Wait: fxMs(18), Receive: fxMs(0.1)},
				Err:     &Error{Kind: ErrAborted, Message: "127.0.0.1:50051 broke off the response body", Status: 200},
			},
		}},
		secretsCase("redact_default", RedactDefault, secretsBody),
		secretsCase("redact_strict", RedactStrict, secretsBody),
		secretsCase("redact_none", RedactNone, secretsBody),
	}
}

// secretsCase is an exchange full of secrets, exported at level.
func secretsCase(name string, level Redaction, body string) struct {
	name   string
	redact Redaction
	xs     []Exchange
} {
	return struct {
		name   string
		redact Redaction
		xs     []Exchange
	}{name, level, []Exchange{{
		ID: 1, Role: RoleServe, Start: fxAt(0), End: fxAt(50), State: Done,
		ClientAddr: "127.0.0.1:51400", ServerAddr: "127.0.0.1:8080",
		Request: Request{
			Method: "POST", URL: "http://localhost:8080/oauth/token?client_id=app&code=xyz789&state=s1&id_token=" + testJWT, Proto: "HTTP/1.1", Host: "localhost:8080",
			Header: Fields{
				{"Authorization", "Bearer " + testJWT},
				{"Proxy-Authorization", "Basic dXNlcjpwYXNz"},
				{"Cookie", "session=3f9a1c; theme=dark"},
				{"X-Api-Key", "k-live-123"},
				{"X-Auth-Token", "t-456"},
				{"X-Request-Id", "req-99"},
				{"Referer", "http://localhost:8080/callback?code=abc123&state=s1"},
				{"Content-Type", "application/json"},
			},
			Body: completeBody([]byte(body)),
		},
		Response: &Response{
			Status: 200, Reason: "OK", Proto: "HTTP/1.1",
			Header: Fields{
				{"Content-Type", "application/json"},
				{"Set-Cookie", "session=9b2e7d; Path=/; HttpOnly"},
				{"X-Session-Id", "s-777"},
			},
			Body: completeBody([]byte(`{"access_token":"` + testJWT + `","refresh_token":"r-1","token_type":"Bearer","expires_in":3600,"scope":"read","user":{"name":"Ada","author":"yes","client_secret":{"v":1}}}`)),
		},
		Timings: reusedTimings,
	}}}
}
