package har

import (
	"bytes"
	"compress/gzip"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/redact"
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

func completeBody(b []byte) record.Body {
	return record.Body{Bytes: b, Size: int64(len(b)), Complete: true}
}

// tlsTimings are the phases of a fresh HTTPS connection.
var tlsTimings = record.Timings{Blocked: fxMs(0.412), DNS: fxMs(1.5), Connect: fxMs(23.25), TLS: fxMs(15.125), Send: fxMs(0.094), Wait: fxMs(41.7), Receive: fxMs(2.008)}

// reusedTimings are the phases on a kept-alive connection.
var reusedTimings = record.Timings{Blocked: fxMs(0.05), DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.031), Wait: fxMs(12.5), Receive: fxMs(0.6)}

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
	redact redact.Level
	xs     []record.Exchange
} {
	gzBody := gzipBytes([]byte(usersJSON))
	pngBody := tinyPNG()
	sse := "retry: 3000\n\nevent: tick\nid: 1\ndata: {\"n\":1}\n\nevent: tick\nid: 2\ndata: {\"n\":2}\n\n"
	bigText := strings.Repeat("0123456789abcdef", 320) // 5120 bytes
	secretsBody := `{"user":"ada","password":"hunter2","profile":{"nickname":"countess","api_key":"k-123"},"tokens":[{"access_token":"` + testJWT + `","expires_in":3600}],"note":"bearer ` + testJWT + `"}`

	type C = struct {
		name   string
		redact redact.Level
		xs     []record.Exchange
	}
	return []C{
		{"gzip_json", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(85), State: record.Done,
			ClientAddr: "127.0.0.1:51234", ServerAddr: "203.0.113.10:443",
			Request: record.Request{
				Method: "GET", URL: "https://api.example.test/v1/users?page=2&per_page=20&q=ada%20l", UpstreamURL: "https://api.example.test/v1/users?page=2&per_page=20&q=ada%20l",
				Proto: "HTTP/1.1", Host: "api.example.test",
				Header: record.Fields{{Name: "Accept", Value: "application/json"}, {Name: "Accept-Encoding", Value: "gzip, br"}, {Name: "User-Agent", Value: "curl/8.5.0"}},
				Body:   record.Body{Complete: true},
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Encoding", Value: "gzip"}, {Name: "Content-Length", Value: strconv.Itoa(len(gzBody))}, {Name: "Content-Type", Value: "application/json; charset=utf-8"}, {Name: "Date", Value: "Fri, 14 Mar 2025 09:26:53 GMT"}, {Name: "Vary", Value: "Accept-Encoding"}},
				Body:   completeBody(gzBody),
			},
			Timings: tlsTimings,
		}}},
		{"binary_png", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0).In(time.FixedZone("CET", 3600)), End: fxAt(20), State: record.Done,
			ClientAddr: "127.0.0.1:51240", ServerAddr: "127.0.0.1:8080",
			Request: record.Request{
				Method: "GET", URL: "http://localhost:8080/static/logo.png", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Accept", Value: "image/avif,image/webp,*/*"}},
				Body:   record.Body{Complete: true},
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Cache-Control", Value: "max-age=3600"}, {Name: "Content-Length", Value: strconv.Itoa(len(pngBody))}, {Name: "Content-Type", Value: "image/png"}},
				Body:   completeBody(pngBody),
			},
			Timings: reusedTimings,
		}}},
		{"sse", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(30000), State: record.Done,
			ClientAddr: "127.0.0.1:51250", ServerAddr: "127.0.0.1:8080",
			Request: record.Request{
				Method: "GET", URL: "http://localhost:8080/events", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Accept", Value: "text/event-stream"}, {Name: "Cache-Control", Value: "no-cache"}},
				Body:   record.Body{Complete: true},
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Cache-Control", Value: "no-cache"}, {Name: "Content-Type", Value: "text/event-stream"}},
				Body:   record.Body{Bytes: []byte(sse), Size: int64(len(sse))},
			},
			Timings: record.Timings{Blocked: fxMs(0.02), DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.04), Wait: fxMs(3.1), Receive: fxMs(29996.2)},
			Err:     &record.Error{Kind: record.ErrCanceled, Message: "client went away during the response", Status: 499},
		}}},
		{"post_form", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(40), State: record.Done,
			ClientAddr: "127.0.0.1:51260", ServerAddr: "127.0.0.1:8080",
			Request: record.Request{
				Method: "POST", URL: "http://localhost:8080/login?next=%2Fhome", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Content-Length", Value: "52"}, {Name: "Content-Type", Value: "application/x-www-form-urlencoded"}, {Name: "Origin", Value: "http://localhost:8080"}},
				Body:   completeBody([]byte("username=ada&password=hunter2&remember=on&note=a+b%26c")),
			},
			Response: &record.Response{
				Status: 302, Reason: "Found", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Length", Value: "0"}, {Name: "Location", Value: "/home"}, {Name: "Set-Cookie", Value: "session=3f9a1c; Path=/; HttpOnly; SameSite=Lax"}},
				Body:   record.Body{Complete: true},
			},
			Timings: reusedTimings,
		}}},
		{"post_json", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(60), State: record.Done,
			ClientAddr: "127.0.0.1:51270", ServerAddr: "127.0.0.1:8080",
			Request: record.Request{
				Method: "POST", URL: "http://localhost:8080/v1/orders", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Request-Id", Value: "req-42"}},
				Body:   completeBody([]byte(`{"item":"tea","qty":2,"options":{"milk":true,"sugar":null},"note":"naïve café ☕"}`)),
			},
			Response: &record.Response{
				Status: 201, Reason: "Created", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Type", Value: "application/json"}, {Name: "Location", Value: "/v1/orders/7"}},
				Body:   completeBody([]byte(`{"id":7,"status":"new"}` + "\n")),
			},
			Timings: reusedTimings,
		}}},
		{"server_error", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(15), State: record.Done,
			ClientAddr: "[::1]:51280", ServerAddr: "[fe80::1%lo0]:8080",
			Request: record.Request{
				Method: "DELETE", URL: "http://[::1]:8080/v1/orders/7", Proto: "HTTP/1.1", Host: "[::1]:8080",
				Body: record.Body{Complete: true},
			},
			Response: &record.Response{
				Status: 500, Reason: "Internal Server Error", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}, {Name: "X-Content-Type-Options", Value: "nosniff"}},
				Body:   completeBody([]byte("internal error: database is locked\n")),
			},
			Timings: record.Timings{Blocked: fxMs(0.1), DNS: -1, Connect: fxMs(0.3), TLS: -1, Send: fxMs(0.05), Wait: fxMs(14.2), Receive: fxMs(0.3)},
		}}},
		{"unreachable", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(2), State: record.Done,
			ClientAddr: "127.0.0.1:51290", ServerAddr: "127.0.0.1:9",
			Request: record.Request{
				Method: "GET", URL: "http://localhost:8080/health", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Accept", Value: "*/*"}},
				Body:   record.Body{Complete: true},
			},
			Timings: record.Timings{Blocked: fxMs(0.01), DNS: fxMs(0.2), Connect: fxMs(1.1), TLS: -1, Send: -1, Wait: -1, Receive: -1},
			Err:     &record.Error{Kind: record.ErrUnreachable, Message: "dial tcp 127.0.0.1:9: connect: connection refused", Status: 502},
		}}},
		{"truncated", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(120), State: record.Done,
			ClientAddr: "127.0.0.1:51300", ServerAddr: "127.0.0.1:8080",
			Request: record.Request{
				Method: "PUT", URL: "http://localhost:8080/files/log.txt", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}},
				Body:   record.Body{Bytes: []byte(bigText[:96]), Size: int64(len(bigText)), Truncated: true, Complete: true},
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Type", Value: "text/plain"}},
				Body:   record.Body{Bytes: []byte(bigText[:96]), Size: int64(len(bigText)), Truncated: true, Complete: true},
			},
			Timings: reusedTimings,
		}}},
		{"websocket", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(61000), State: record.Done,
			ClientAddr: "127.0.0.1:51310", ServerAddr: "127.0.0.1:8080",
			Upgraded: true, UpgradeUp: 1532, UpgradeDn: 48211,
			Request: record.Request{
				Method: "GET", URL: "http://localhost:8080/ws", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Connection", Value: "Upgrade"}, {Name: "Sec-Websocket-Key", Value: "dGhlIHNhbXBsZSBub25jZQ=="}, {Name: "Sec-Websocket-Version", Value: "13"}, {Name: "Upgrade", Value: "websocket"}},
				Body:   record.Body{Complete: true},
			},
			Response: &record.Response{
				Status: 101, Reason: "Switching Protocols", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Connection", Value: "Upgrade"}, {Name: "Sec-Websocket-Accept", Value: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, {Name: "Upgrade", Value: "websocket"}},
				Body:   record.Body{Complete: true},
			},
			Timings:  reusedTimings,
			Messages: wsMessages(),
		}}},
		{"duplicate_set_cookie", redact.Default, []record.Exchange{{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(30), State: record.Done,
			ClientAddr: "127.0.0.1:51320", ServerAddr: "127.0.0.1:8080",
			Request: record.Request{
				Method: "GET", URL: "http://localhost:8080/account", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Cookie", Value: "theme=dark; session=3f9a1c"}, {Name: "X-Trace", Value: "a"}, {Name: "X-Trace", Value: "b"}},
				Body:   record.Body{Complete: true},
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{
					{Name: "Content-Type", Value: "text/html; charset=utf-8"},
					{Name: "Set-Cookie", Value: "session=9b2e7d; Path=/; Secure; HttpOnly"},
					{Name: "Set-Cookie", Value: "theme=light; Path=/; Expires=Sat, 14 Mar 2026 09:26:53 GMT"},
					{Name: "Set-Cookie", Value: "lang=en, fr; Domain=example.test"},
				},
				Body: completeBody([]byte("<!doctype html><title>Account</title><p>Hello, Ada & co.</p>\n")),
			},
			Timings: reusedTimings,
		}}},
		{"replay_trailers", redact.Default, []record.Exchange{
			{
				ID: 7, Role: record.RoleRelay, Start: fxAt(0), End: fxAt(25), State: record.Done, Marks: []record.Mark{{Stage: "relay", Name: "backend", Value: "laptop-ada"}},
				ClientAddr: "198.51.100.7:40001", ServerAddr: "agent-laptop-ada",
				Request: record.Request{
					Method: "POST", URL: "https://relay.example.test/grpc.health.v1.Health/Check", UpstreamURL: "http://127.0.0.1:50051/grpc.health.v1.Health/Check",
					Proto: "HTTP/2.0", Host: "relay.example.test",
					Header:  record.Fields{{Name: "Content-Type", Value: "application/grpc"}, {Name: "Te", Value: "trailers"}},
					Trailer: record.Fields{{Name: "X-Checksum", Value: "abc"}},
					Body:    completeBody([]byte{0, 0, 0, 0, 0}),
				},
				Response: &record.Response{
					Status: 200, Reason: "OK", Proto: "HTTP/2.0",
					Header:  record.Fields{{Name: "Content-Type", Value: "application/grpc"}},
					Trailer: record.Fields{{Name: "Grpc-Message", Value: ""}, {Name: "Grpc-Status", Value: "0"}},
					Body:    completeBody([]byte{0, 0, 0, 0, 2, 8, 1}),
				},
				Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.2), Wait: fxMs(20), Receive: fxMs(0.1)},
			},
			{
				ID: 8, Role: record.RoleServe, ReplayOf: 7, Start: fxAt(5000), End: fxAt(5020), State: record.Done,
				ClientAddr: "", ServerAddr: "127.0.0.1:50051",
				Request: record.Request{
					Method: "POST", URL: "https://relay.example.test/grpc.health.v1.Health/Check", UpstreamURL: "http://127.0.0.1:50051/grpc.health.v1.Health/Check",
					Proto: "HTTP/2.0", Host: "relay.example.test",
					Header: record.Fields{{Name: "Content-Type", Value: "application/grpc"}, {Name: "Te", Value: "trailers"}},
					Body:   record.Body{Bytes: []byte{0, 0, 0}, Size: 3},
				},
				Response: &record.Response{
					Status: 200, Reason: "OK", Proto: "HTTP/2.0",
					Header: record.Fields{{Name: "Content-Type", Value: "application/grpc"}},
					Body:   record.Body{Bytes: []byte{0, 0, 0, 0, 2}, Size: 5},
				},
				Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.2), Wait: fxMs(18), Receive: fxMs(0.1)},
				Err:     &record.Error{Kind: record.ErrAborted, Message: "127.0.0.1:50051 broke off the response body", Status: 200},
			},
		}},
		{"grpc", redact.Default, grpcExchanges()},
		secretsCase("redact_default", redact.Default, secretsBody),
		secretsCase("redact_strict", redact.Strict, secretsBody),
		secretsCase("redact_none", redact.None, secretsBody),
	}
}

// wsMessages are the messages of the websocket golden: one of each kind
// the export must get right.
func wsMessages() []record.Message {
	text := func(ms int, dir record.Direction, s string) record.Message {
		return record.Message{Time: fxAt(ms), Dir: dir, Opcode: 1, Size: int64(len(s)), Payload: []byte(s)}
	}
	return []record.Message{
		text(15, record.ToServer, `{"op":"subscribe","channel":"ticks"}`),
		text(16, record.ToClient, `{"tick":1,"price":"12.50"}`),
		{Time: fxAt(17), Dir: record.ToServer, Opcode: 2, Size: 4, Payload: []byte{0, 1, 2, 0xff}},
		{Time: fxAt(30000), Dir: record.ToServer, Opcode: 9, Size: 2, Payload: []byte("p1")},
		{Time: fxAt(30001), Dir: record.ToClient, Opcode: 10, Size: 2, Payload: []byte("p1")},
		{Time: fxAt(30002), Dir: record.ToClient, Opcode: 1, Size: 4096, Payload: []byte("0123456789"), Truncated: true},
		{Time: fxAt(30003).Add(123 * time.Microsecond), Dir: record.ToClient, Opcode: 1, Size: 7, Payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, Compressed: true},
		{Time: fxAt(60999), Dir: record.ToServer, Opcode: 8, Size: 9, Payload: []byte{0x03, 0xe9, 's', 'e', 'e', ' ', 'y', 'o', 'u'}, CloseCode: 1001, CloseReason: "see you"},
		{Time: fxAt(61000), Dir: record.ToClient, Opcode: 8, Size: 2, Payload: []byte{0x03, 0xe8}, CloseCode: 1000},
	}
}

// grpcFrame is one length-prefixed message with the given flag byte.
func grpcFrame(flag byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{flag, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
}

// grpcExchanges are the grpc golden's calls: a gRPC server stream with a
// gzip-compressed reply, and a gRPC-Web call whose reply was captured in
// part, ending in its trailer frame, with messages past the recorder's
// limit.
func grpcExchanges() []record.Exchange {
	req := append([]byte{0x0a, 12}, "ada lovelace\x10\x03"...) // 1: "ada lovelace", 2: 3
	reply := append([]byte{0x0a, 10}, "hello, ada"...)
	zipped := gzipBytes(append([]byte{0x0a, 10}, "hello, ada\x18\x01"...))
	trailers := []byte("grpc-status: 5\r\ngrpc-message: no%20such%20user\r\n")
	long := []byte{0x0a, 0x80, 0x20, 'a', 'a', 'a', 'a', 'a', 'a', 'a'} // 1: 4096 bytes, cut
	msg := func(ms int, dir record.Direction, flag byte, p []byte) record.Message {
		return record.Message{Time: fxAt(ms), Dir: dir, Opcode: flag, Size: int64(len(p)), Payload: p, Compressed: flag&1 != 0}
	}
	return []record.Exchange{
		{
			ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(40), State: record.Done,
			ClientAddr: "127.0.0.1:51500", ServerAddr: "127.0.0.1:50051",
			Request: record.Request{
				Method: "POST", URL: "http://localhost:8080/devproxy.test.v1.Echo/ServerStream", UpstreamURL: "http://127.0.0.1:50051/devproxy.test.v1.Echo/ServerStream",
				Proto: "HTTP/2.0", Host: "localhost:8080",
				Header: record.Fields{{Name: "Content-Type", Value: "application/grpc"}, {Name: "Grpc-Accept-Encoding", Value: "gzip"}, {Name: "Te", Value: "trailers"}},
				Body:   completeBody(grpcFrame(0, req)),
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/2.0",
				Header:  record.Fields{{Name: "Content-Type", Value: "application/grpc"}, {Name: "Grpc-Encoding", Value: "gzip"}},
				Trailer: record.Fields{{Name: "Grpc-Message", Value: ""}, {Name: "Grpc-Status", Value: "0"}},
				Body:    completeBody(append(grpcFrame(0, reply), grpcFrame(1, zipped)...)),
			},
			Timings: record.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: fxMs(0.2), Wait: fxMs(20), Receive: fxMs(19)},
			Messages: []record.Message{
				msg(1, record.ToServer, 0, req),
				msg(21, record.ToClient, 0, reply),
				msg(40, record.ToClient, 1, zipped),
			},
		},
		{
			ID: 2, Role: record.RoleServe, Start: fxAt(100), End: fxAt(130), State: record.Done,
			ClientAddr: "127.0.0.1:51501", ServerAddr: "127.0.0.1:8081",
			Request: record.Request{
				Method: "POST", URL: "http://localhost:8080/users.v1.Users/Get", Proto: "HTTP/1.1", Host: "localhost:8080",
				Header: record.Fields{{Name: "Content-Type", Value: "application/grpc-web+proto"}, {Name: "X-Grpc-Web", Value: "1"}},
				Body:   completeBody(grpcFrame(0, req)),
			},
			Response: &record.Response{
				Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header: record.Fields{{Name: "Content-Type", Value: "application/grpc-web+proto"}},
				Body:   record.Body{Bytes: append(grpcFrame(0, reply), grpcFrame(0, long)...), Size: 4096 + 5*3 + 4 + 3 + int64(len(trailers)), Truncated: true, Complete: true},
			},
			Timings: reusedTimings,
			Messages: []record.Message{
				msg(101, record.ToServer, 0, req),
				msg(120, record.ToClient, 0, reply),
				{Time: fxAt(125), Dir: record.ToClient, Size: 4099, Payload: long, Truncated: true},
				msg(130, record.ToClient, 0x80, trailers),
			},
			MessagesDropped: 3,
		},
	}
}

// secretsCase is an exchange full of secrets, exported at level.
func secretsCase(name string, level redact.Level, body string) struct {
	name   string
	redact redact.Level
	xs     []record.Exchange
} {
	return struct {
		name   string
		redact redact.Level
		xs     []record.Exchange
	}{name, level, []record.Exchange{{
		ID: 1, Role: record.RoleServe, Start: fxAt(0), End: fxAt(50), State: record.Done,
		ClientAddr: "127.0.0.1:51400", ServerAddr: "127.0.0.1:8080",
		Request: record.Request{
			Method: "POST", URL: "http://localhost:8080/oauth/token?client_id=app&code=xyz789&state=s1&id_token=" + testJWT, Proto: "HTTP/1.1", Host: "localhost:8080",
			Header: record.Fields{
				{Name: "Authorization", Value: "Bearer " + testJWT},
				{Name: "Proxy-Authorization", Value: "Basic dXNlcjpwYXNz"},
				{Name: "Cookie", Value: "session=3f9a1c; theme=dark"},
				{Name: "X-Api-Key", Value: "k-live-123"},
				{Name: "X-Auth-Token", Value: "t-456"},
				{Name: "X-Request-Id", Value: "req-99"},
				{Name: "Referer", Value: "http://localhost:8080/callback?code=abc123&state=s1"},
				{Name: "Content-Type", Value: "application/json"},
			},
			Body: completeBody([]byte(body)),
		},
		Response: &record.Response{
			Status: 200, Reason: "OK", Proto: "HTTP/1.1",
			Header: record.Fields{
				{Name: "Content-Type", Value: "application/json"},
				{Name: "Set-Cookie", Value: "session=9b2e7d; Path=/; HttpOnly"},
				{Name: "X-Session-Id", Value: "s-777"},
			},
			Body: completeBody([]byte(`{"access_token":"` + testJWT + `","refresh_token":"r-1","token_type":"Bearer","expires_in":3600,"scope":"read","user":{"name":"Ada","author":"yes","client_secret":{"v":1}}}`)),
		},
		Timings: reusedTimings,
	}}}
}
