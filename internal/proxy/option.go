package proxy

import "errors"

// OptionError says which option of an engine constructor was wrong, in the
// engine's own words. The command layer, which knows the flags, names the
// flag that set it (see FlagError in cmd/devproxy); the engine never does.
type OptionError struct {
	// Option is the field, e.g. "CAFile" or "ClientCertFile".
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// optionErr wraps err for option.
func optionErr(option string, err error) error { return &OptionError{Option: option, Err: err} }

// OptionName returns the option an error is about, if it is an OptionError.
func OptionName(err error) (string, bool) {
	var oe *OptionError
	if errors.As(err, &oe) {
		return oe.Option, true
	}
	return "", false
}
