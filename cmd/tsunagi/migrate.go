package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/store"
)

func migrateCmd() *cobra.Command {
	var dataDir, db string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations, then print the migration status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := store.Open(cmd.Context(), store.Options{DSN: db, DataDir: dataDir})
			if err != nil {
				return err
			}
			defer d.Close()
			st, err := d.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			for _, line := range st {
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			return nil
		},
	}
	storeFlags(cmd, &dataDir, &db)
	return cmd
}
