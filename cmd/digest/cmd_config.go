package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate a config file and name every bad key",
		Long: `Validate a config file: unknown keys, bad values and unset environment
variables are each reported with the key they belong to. Secrets are never
printed.`,
		Example: `  DIGEST_SECRET=... DIGEST_SMTP_PASSWORD=... digest config check --config digest.yaml`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.open(cmd.Context(), need{configFile: true})
			if err != nil {
				return err
			}
			cfg := o.cfg
			if err := cfg.Validate(); err != nil {
				return errors.Join(errors.New("invalid config"), err)
			}
			path := a.configPath
			if path == "" {
				path = defaultConfigFile
			}
			fmt.Fprintf(a.stdout, "%s: ok (%d regions, database %s, smtp %s:%d %s)\n", path, len(cfg.Regions), cfg.Database, cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS)
			return nil
		},
	})
	return cmd
}
