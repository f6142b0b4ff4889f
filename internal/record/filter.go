package record

// Filter selects exchanges; see ParseFilter for the language.
type Filter struct{}

// ParseFilter compiles a filter expression. Errors name the bad token.
func ParseFilter(s string) (*Filter, error) { panic("TODO(tui helper)") }

// Match reports whether x passes the filter. A nil filter matches all.
func (f *Filter) Match(x *Exchange) bool { panic("TODO(tui helper)") }
