package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/ingest"
)

// importWriteKey is the write key id that imported rows are recorded under.
const importWriteKey = "import"

func importCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import data from files"}
	accounts := &cobra.Command{
		Use:   "accounts FILE.csv",
		Short: "Upsert accounts from a CRM export (header row maps to traits; bad rows reported, good rows kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			msgs, bad, err := ingest.AccountsCSV(f, time.Now().UTC())
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			const chunk = 1000
			for i := 0; i < len(msgs); i += chunk {
				if _, err := st.Ingest(cmd.Context(), importWriteKey, msgs[i:min(i+chunk, len(msgs))]); err != nil {
					return fmt.Errorf("imported %d accounts, then: %w", i, err)
				}
			}
			for _, b := range bad {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: %s\n", args[0], b.Line, b.Message)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d accounts; %d rows skipped\n", len(msgs), len(bad))
			if len(bad) > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.AddCommand(accounts)
	return cmd
}
