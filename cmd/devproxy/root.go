package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

func newRootCmd() *cobra.Command {
	v := viper.New()
	root := &cobra.Command{
		Use:   "devproxy",
		Short: "See and shape HTTP traffic while you develop",
		Long: `devproxy sits in front of the service you are building and shows every
request and response as it happens: headers, bodies as they stream, timings,
errors. Replay or edit-and-replay any request, copy it as curl, export HAR.

  devproxy demo                                   try it on a built-in backend
  devproxy serve --target http://localhost:3000   put it in front of your service`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return loadConfig(v, cmd)
		},
	}
	root.PersistentFlags().String("config", "", "config file (default $XDG_CONFIG_HOME/devproxy/config.yaml, else ~/.config/devproxy/config.yaml)")
	root.SetVersionTemplate("devproxy {{.Version}}\n")
	root.SetFlagErrorFunc(suggestFlag)
	root.AddCommand(
		newServeCmd(),
		newDemoCmd(),
		newRelayCmd(),
		newAgentCmd(),
		newViewCmd(),
		newReplayCmd(),
		newExportCmd(),
		newVersionCmd(),
		newManCmd(),
		newRulesCmd(),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		c.Flags().SetNormalizeFunc(normalizeFlag)
	}
	registerCompletions(root)
	return root
}

// normalizeFlag accepts --address as another name for --listen.
func normalizeFlag(f *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "address" {
		name = "listen"
	}
	return pflag.NormalizedName(name)
}
