package record

// Body decoding for display and export. Captured bodies keep their
// Content-Encoding; these helpers undo it on demand.

// DecodeBody undoes contentEncoding (a Content-Encoding header value, possibly
// a list such as "gzip, br") on b. It returns the decoded bytes, a short note
// for the reader (e.g. "decoded from gzip, 1.2 KiB → 8.4 KiB"), and an error
// when the bytes do not decode (a truncated capture decodes as far as it can
// and says so in the note). Identity and "" return b unchanged.
//
// gzip, x-gzip and deflate are built in; other codings (br, zstd) are added
// with RegisterDecoder. Output is capped at MaxDecoded bytes.
func DecodeBody(b []byte, contentEncoding string) (decoded []byte, note string, err error) {
	panic("TODO(har helper)")
}
