// Command tsunagi is the private-backbone connectivity hub: `tsunagi serve` runs
// the controller, `tsunagi migrate` manages the schema, and later nouns form
// the CLI over the REST API.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "tsunagi",
		Short:         "tsunagi — private-backbone connectivity hub",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), migrateCmd(), agentCmd(), backupCmd(), restoreCmd(), auditCmd(), evidenceCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tsunagi:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
