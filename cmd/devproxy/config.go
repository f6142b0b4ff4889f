package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/devproxy/devproxy/internal/suggest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// extraConfigKeys are config-file keys that are not flags.
var extraConfigKeys = map[string]bool{}

type sourcesKey struct{}

type viperKey struct{}

// configViper returns the viper instance that loaded the config, for keys
// that are not flags (the relay's backends).
func configViper(cmd *cobra.Command) *viper.Viper {
	v, _ := cmdContext(cmd).Value(viperKey{}).(*viper.Viper)
	return v
}

// loadConfig fills the running command's flags from the environment and the
// config file, keeping the precedence flag > DEVPROXY_* env > config file >
// default. It reads the file into v, binds only this command's flags (viper
// keeps one binding per key), and writes resolved values back into the flags
// so every command reads typed values from its flag set.
func loadConfig(v *viper.Viper, cmd *cobra.Command) error {
	path, explicit := configPath(cmd)
	sources := map[string]string{}
	ctx := context.WithValue(cmdContext(cmd), sourcesKey{}, sources)
	cmd.SetContext(context.WithValue(ctx, viperKey{}, v))

	if path != "" {
		_, err := os.Stat(path)
		switch {
		case err == nil:
			if err := readConfigFile(v, cmd, path); err != nil {
				return err
			}
		case !explicit && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)):
			path = "" // no config file in the default place: fine
		case !explicit:
			return fmt.Errorf("config file %s (the default location): %w; fix it, or name another with --config", path, unwrapPathError(err))
		default:
			src := "--config"
			if f := cmd.Flags().Lookup("config"); f == nil || f.Value.String() == "" {
				src = "$DEVPROXY_CONFIG"
			}
			return fmt.Errorf("%s %s: %w", src, path, unwrapPathError(err))
		}
	}

	v.RegisterAlias("address", "listen")
	v.SetEnvPrefix("DEVPROXY")
	v.SetEnvKeyReplacer(envKeys)
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}

	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Name == "config" || f.Name == "help" {
			return
		}
		if f.Changed {
			sources[f.Name] = "--" + f.Name
			return
		}
		if !v.IsSet(f.Name) {
			return
		}
		src := "config file " + path + ": key " + f.Name
		if env := envName(f.Name); os.Getenv(env) != "" {
			src = "$" + env
		}
		val, err := setFlag(cmd.Flags(), f, v.Get(f.Name))
		if err != nil {
			firstErr = fmt.Errorf("%s: %q is not a valid %s: %s", src, val, f.Name, typeHint(f, err))
			return
		}
		sources[f.Name] = src
	})
	return firstErr
}

// setFlag sets f from a config or environment value and returns the text
// it set (for an error message). A list for a repeatable flag (--header) is
// one Set per item, as if the flag were repeated: joined with commas, an
// item holding a comma would be split.
func setFlag(fs *pflag.FlagSet, f *pflag.Flag, v any) (string, error) {
	if list, ok := v.([]any); ok {
		if _, repeatable := f.Value.(pflag.SliceValue); repeatable {
			for _, item := range list {
				val, err := flagString(item)
				if err == nil {
					err = fs.Set(f.Name, val)
				}
				if err != nil {
					return val, err
				}
			}
			return "", nil
		}
	}
	val, err := flagString(v)
	if err == nil {
		err = fs.Set(f.Name, val)
	}
	return val, err
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// flagSource names where a flag's value came from, for error messages:
// "--target", "$DEVPROXY_TARGET" or "config file …: key target".
func flagSource(cmd *cobra.Command, name string) string {
	if m, ok := cmdContext(cmd).Value(sourcesKey{}).(map[string]string); ok {
		if s, ok := m[name]; ok {
			return s
		}
	}
	return "--" + name
}

// envKeys maps a flag or config key to its environment spelling; viper and
// envName must agree on it.
var envKeys = strings.NewReplacer("-", "_", ".", "_")

func envName(flag string) string { return "DEVPROXY_" + strings.ToUpper(envKeys.Replace(flag)) }

// configPath is --config (or $DEVPROXY_CONFIG), else the XDG location.
func configPath(cmd *cobra.Command) (path string, explicit bool) {
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String(), true
	}
	if p := os.Getenv("DEVPROXY_CONFIG"); p != "" {
		return p, true
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "devproxy", "config.yaml"), false
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "devproxy", "config.yaml"), false
	}
	return "", false
}

func readConfigFile(v *viper.Viper, cmd *cobra.Command, path string) error {
	v.SetConfigFile(path)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".toml", ".yaml", ".yml":
	default:
		v.SetConfigType("yaml")
	}
	if err := v.ReadInConfig(); err != nil {
		return fmt.Errorf("config file %s: %v", path, err)
	}
	known, sections := knownKeys(cmd.Root())
	settings := v.AllSettings()
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := settings[k]
		if sub, ok := sections[k]; ok {
			m, isMap := val.(map[string]any)
			if !isMap {
				return fmt.Errorf("config file %s: key %q must be a map of %s settings", path, k, k)
			}
			for sk := range m {
				if !sub[sk] {
					return unknownKey(path, k+"."+sk, sk, sub)
				}
			}
			continue
		}
		if !known[k] {
			return unknownKey(path, k, k, known)
		}
	}
	// A section named after the running command overrides the top level.
	if m, ok := settings[cmd.Name()].(map[string]any); ok {
		if err := v.MergeConfigMap(m); err != nil {
			return fmt.Errorf("config file %s: %v", path, err)
		}
	}
	return nil
}

// knownKeys lists every flag of every command (a shared config file may hold
// keys for other roles) and, per command, its own flags for a section.
func knownKeys(root *cobra.Command) (map[string]bool, map[string]map[string]bool) {
	all := map[string]bool{"address": true}
	for k := range extraConfigKeys {
		all[k] = true
	}
	sections := map[string]map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		own := map[string]bool{}
		add := func(f *pflag.Flag) {
			if f.Name == "help" || f.Name == "config" {
				return
			}
			all[f.Name] = true
			own[f.Name] = true
		}
		c.LocalFlags().VisitAll(add)
		c.InheritedFlags().VisitAll(add)
		if c != root && c.Runnable() {
			for k := range extraConfigKeys {
				own[k] = true
			}
			sections[c.Name()] = own
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return all, sections
}

func unknownKey(path, full, key string, allowed map[string]bool) error {
	names := make([]string, 0, len(allowed))
	for k := range allowed {
		names = append(names, k)
	}
	sort.Strings(names)
	hint := ""
	if best, ok := suggest.Nearest(key, names); ok {
		hint = fmt.Sprintf(" did you mean %q?", best)
	}
	return fmt.Errorf("config file %s: unknown key %q;%s allowed keys: %s", path, full, hint, strings.Join(names, ", "))
}

// flagString turns a config or environment value into flag text.
func flagString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := flagString(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case []string:
		return strings.Join(x, ","), nil
	case map[string]any:
		return "", errors.New("a map is not allowed here")
	default:
		return fmt.Sprint(x), nil
	}
}

// typeHint says what a flag accepts.
func typeHint(f *pflag.Flag, err error) string {
	switch f.Value.Type() {
	case "duration":
		return "want a duration such as 500ms, 30s or 2m"
	case "bool":
		return "want true or false"
	case "int", "int64", "uint64":
		return "want a whole number"
	case "size":
		var se *sizeError
		if errors.As(err, &se) {
			return se.Error() // why this value was refused: not a size, too large…
		}
		return "want a size such as 512KiB, 1MiB or 2GiB"
	}
	return err.Error()
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
