package tui

import (
	"reflect"
	"testing"

	"charm.land/bubbles/v2/key"
)

// bindingsOf are the key bindings among the fields of struct v.
func bindingsOf(v any) []key.Binding {
	var out []key.Binding
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if b, ok := rv.Field(i).Interface().(key.Binding); ok {
			out = append(out, b)
		}
	}
	return out
}

// TestKeysDoNotCollide: in each place keys go, no two enabled bindings
// share a key. ForceQuit and Redraw apply everywhere.
func TestKeysDoNotCollide(t *testing.T) {
	k := DefaultKeyMap()
	join := func(groups ...[]key.Binding) []key.Binding {
		var out []key.Binding
		for _, g := range groups {
			out = append(out, g...)
		}
		return out
	}
	general := []key.Binding{k.ForceQuit, k.Redraw}
	contexts := map[string][]key.Binding{
		"list": join(bindingsOf(k.Nav), bindingsOf(k.List), bindingsOf(k.Actions), []key.Binding{k.Holds.Resume, k.Holds.ResumeAll, k.Holds.Abort},
			[]key.Binding{k.Rules.Open, k.Rules.Intercept, k.Help, k.Quit, k.Events}),
		"detail": join(bindingsOf(k.Nav), bindingsOf(k.Detail), bindingsOf(k.Actions), []key.Binding{k.Holds.Resume, k.Holds.ResumeAll, k.Holds.Abort},
			[]key.Binding{k.Rules.Open, k.Rules.Intercept, k.Help, k.Events}),
		"rules pane":  join(bindingsOf(k.Nav), bindingsOf(k.Rules), []key.Binding{k.Detail.Back, k.Help}),
		"inputs":      join(bindingsOf(k.Input), bindingsOf(k.Edit)),
		"question":    {k.Dialog.Yes, k.Dialog.No, k.Actions.Export, k.Dialog.Keep},
		"text pop-up": {k.Dialog.Close},
		"help":        join(bindingsOf(k.Nav), []key.Binding{k.Dialog.Close, k.Help}),
	}
	for name, bs := range contexts {
		seen := map[string]string{}
		for _, b := range append(bs, general...) {
			if !b.Enabled() {
				continue
			}
			for _, key := range b.Keys() {
				if other, ok := seen[key]; ok {
					t.Errorf("%s: %q is both %q and %q", name, key, other, b.Help().Desc)
				}
				seen[key] = b.Help().Desc
			}
		}
	}
}
