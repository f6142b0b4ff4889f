package record

// Curl renders x's request as a curl command line by Chrome's rules.
func Curl(x Exchange) string { panic("TODO(har helper)") }
