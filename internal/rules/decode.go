package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decode reads the rules of a config file, as viper's Get("rules") returns
// them: a list whose entries are either a rule's text ("path:/flaky =>
// status 503 p=0.3") or a map with the keys name, match, do (the actions)
// and enabled (default true). Nil is no rules. Errors are *Error naming
// the entry (rules[i], from 0), the key and its value.
func Decode(raw any) ([]Rule, error) {
	var entries []any
	switch v := raw.(type) {
	case nil:
		return nil, nil
	case string:
		entries = []any{v}
	case []string:
		for _, s := range v {
			entries = append(entries, s)
		}
	case []any:
		entries = v
	case []map[string]any:
		for _, m := range v {
			entries = append(entries, m)
		}
	default:
		return nil, &Error{Rule: "rules", Pos: -1, Msg: fmt.Sprintf("is a %T; write a list of rules, each a string (\"path:/flaky => status 503\") or a map with name, match, do and enabled", raw)}
	}
	rules := make([]Rule, 0, len(entries))
	for i, e := range entries {
		r, err := decodeEntry(i, e)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// entryKeys are the keys of a rule written as a map.
var entryKeys = []string{"name", "match", "do", "enabled"}

func decodeEntry(i int, e any) (Rule, error) {
	at := fmt.Sprintf("rules[%d]", i)
	var m map[string]any
	switch v := e.(type) {
	case string:
		r, err := Parse(v)
		if err != nil {
			return Rule{}, label(err, fmt.Sprintf("%s %q", at, v))
		}
		return r, nil
	case map[string]any:
		m = v
	case map[any]any:
		m = make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = x
		}
	default:
		return Rule{}, &Error{Rule: at, Pos: -1, Msg: fmt.Sprintf("is a %T; write a string (\"path:/flaky => status 503\") or a map with name, match, do and enabled", e)}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var name, matchText, do string
	enabled, hasDo := true, false
	for _, k := range keys {
		v := m[k]
		bad := func(want string) error {
			return &Error{Rule: fmt.Sprintf("%s.%s %v", at, k, quoteValue(v)), Pos: -1, Msg: "is a " + typeName(v) + "; write " + want}
		}
		switch strings.ToLower(k) {
		case "name":
			s, ok := v.(string)
			if !ok {
				return Rule{}, bad("a name, e.g. name: flaky")
			}
			name = strings.TrimSpace(s)
		case "match":
			s, ok := v.(string)
			if !ok {
				return Rule{}, bad(`a filter, e.g. match: "path:/api/*"`)
			}
			matchText = s
		case "do":
			s, ok := v.(string)
			if !ok {
				return Rule{}, bad(`the actions as text, e.g. do: "status 503 p=0.3"`)
			}
			do, hasDo = s, true
		case "enabled":
			switch b := v.(type) {
			case bool:
				enabled = b
			case string:
				p, err := strconv.ParseBool(b)
				if err != nil {
					return Rule{}, bad("true or false")
				}
				enabled = p
			default:
				return Rule{}, bad("true or false")
			}
		default:
			return Rule{}, &Error{Rule: fmt.Sprintf("%s.%s", at, k), Pos: -1, Msg: "is not a key of a rule; the keys are " + strings.Join(entryKeys, ", ")}
		}
	}
	if !hasDo || strings.TrimSpace(do) == "" {
		return Rule{}, &Error{Rule: at, Pos: -1, Msg: `has no actions; add do: with them, e.g. do: "status 503 p=0.3"`}
	}
	if p := openQuote(matchText); p >= 0 {
		return Rule{}, &Error{Rule: fmt.Sprintf("%s.match %q", at, matchText), Pos: p, Col: utf8.RuneCountInString(matchText[:p]) + 1, Msg: `quote not closed; end the value with "`}
	}
	if p := findArrow(matchText); p >= 0 {
		return Rule{}, &Error{Rule: fmt.Sprintf("%s.match %q", at, matchText), Pos: p, Col: utf8.RuneCountInString(matchText[:p]) + 1, Msg: `"=>" separates the matcher from the actions; quote it to match it as text`}
	}
	text := matchText + " => " + do
	doAt := len(matchText) + len(" => ")
	r, err := Parse(text)
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			return Rule{}, label(err, at)
		}
		c := *e
		switch {
		case c.Pos < 0:
			c.Rule = at
		case c.Pos >= doAt:
			c.Rule = fmt.Sprintf("%s.do %q", at, do)
			c.Pos -= doAt
			c.Col = utf8.RuneCountInString(do[:c.Pos]) + 1
		default:
			c.Rule = fmt.Sprintf("%s.match %q", at, matchText)
			c.Pos = min(c.Pos, len(matchText))
			c.Col = utf8.RuneCountInString(matchText[:c.Pos]) + 1
		}
		return Rule{}, &c
	}
	r.Name, r.Enabled = name, enabled
	return r, nil
}

// quoteValue writes a config value for a message.
func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// typeName names a config value's type in the config's words.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, float64, uint64:
		return "number"
	case []any:
		return "list"
	case map[string]any, map[any]any:
		return "map"
	case nil:
		return "empty value"
	}
	return fmt.Sprintf("%T", v)
}

// openQuote returns the offset of a quote in s that is not closed, or -1.
func openQuote(s string) int {
	open := -1
	for i := 0; i < len(s); i++ {
		switch {
		case open >= 0 && s[i] == '\\':
			i++
		case s[i] == '"' && open >= 0:
			open = -1
		case s[i] == '"':
			open = i
		}
	}
	return open
}
