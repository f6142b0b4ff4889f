package main

import (
	"fmt"

	"github.com/devproxy/devproxy/internal/invert"
	"github.com/devproxy/devproxy/internal/redact"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Shell completion of flag values: the shells' scripts (devproxy
// completion bash|zsh|fish|powershell) ask the binary, through cobra's
// hidden __complete command, what may follow a flag.

// redactLevels are the values of --har-redact and --session-redact.
var redactLevels = []cobra.Completion{
	cobra.CompletionWithDesc(string(redact.Default), "auth headers and cookies"),
	cobra.CompletionWithDesc(string(redact.Strict), "also secret-looking fields and JWT signatures"),
	cobra.CompletionWithDesc(string(redact.None), "keep everything"),
}

// flagValues are the values of the flags that take one of a few words,
// each with what it means.
var flagValues = map[string][]cobra.Completion{
	"har-redact":     redactLevels,
	"session-redact": redactLevels,
	"log-format": {
		cobra.CompletionWithDesc("text", "key=value lines"),
		cobra.CompletionWithDesc("json", "one JSON object per line"),
	},
	"transport": {
		cobra.CompletionWithDesc(string(invert.ModeTunnel), "HTTP/2 over one upgraded connection (default)"),
		cobra.CompletionWithDesc(string(invert.ModeWebSocket), "the tunnel over a WebSocket from the start"),
		cobra.CompletionWithDesc(string(invert.ModePoll), "long polling, for Google's inverting proxy"),
		cobra.CompletionWithDesc(string(invert.ModeAuto), "tunnel, falling back to poll"),
	},
	"grpc-reflection": {"on", "off"},
}

// flagFiles are the flags that name a file, with the extensions completion
// offers (none: any file). Directories are offered too, to walk into.
var flagFiles = map[string][]string{
	"config":         {"yaml", "yml", "json", "toml"},
	"har":            {"har"},
	"session":        {"db"},
	"proto":          {"proto"}, // or a directory of them
	"descriptor-set": nil,       // protoc writes .pb, .protoset, .binpb, .desc…
	"cert":           nil,
	"key":            nil,
	"ca":             nil,
	"client-cert":    nil,
	"client-key":     nil,
	"proxy-ca":       nil,
	"log-file":       nil,
}

// flagDirs are the flags that name a directory.
var flagDirs = map[string]bool{"state-dir": true}

// registerCompletions tells cobra how to complete the value of every flag
// in the tree under root: one of flagValues' words, a file or a directory,
// and for any other flag that takes a value (a URL, an address, a
// duration) nothing, rather than the shell's default of file names.
func registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		// LocalFlags: each flag once, on the command that defines it
		// (--config on the root only).
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if err := registerFlagCompletion(c, f); err != nil {
				panic(fmt.Sprintf("completion of %s --%s: %v", c.CommandPath(), f.Name, err))
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func registerFlagCompletion(c *cobra.Command, f *pflag.Flag) error {
	if values, ok := flagValues[f.Name]; ok {
		return c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	if exts, ok := flagFiles[f.Name]; ok {
		if len(exts) > 0 {
			// A FilterFileExt directive, which also offers directories.
			return cobra.MarkFlagFilename(c.LocalFlags(), f.Name, exts...)
		}
		return c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(nil, cobra.ShellCompDirectiveDefault))
	}
	if flagDirs[f.Name] {
		return c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(nil, cobra.ShellCompDirectiveFilterDirs))
	}
	if f.NoOptDefVal == "" { // takes a value: a bool flag does not
		return c.RegisterFlagCompletionFunc(f.Name, cobra.NoFileCompletions)
	}
	return nil
}
