package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/store"
)

func backupCmd(df *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE, while the server runs",
		Long: `Write a consistent copy of the SQLite database to FILE. It is safe while
` + "`moments serve`" + ` runs and ingests: the copy holds every event acknowledged
before the backup started. FILE must not exist. Restore it with
` + "`moments restore FILE`" + ` (server stopped).

With PostgreSQL (--db), use pg_dump instead; this command says how.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.Backup(cmd.Context(), df.config(), args[0]); err != nil {
				return err
			}
			size := ""
			if fi, err := os.Stat(args[0]); err == nil {
				size = fmt.Sprintf(" (%.1f MB)", float64(fi.Size())/1e6)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "backed up %s to %s%s\n", df.data, args[0], size)
			return nil
		},
	}
}

func restoreCmd(df *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the database with a backup made by `moments backup` (server stopped)",
		Long: `Replace the SQLite database in --data with FILE, a backup made by
` + "`moments backup`" + `, after checking that FILE is an intact Moments database.
The database it replaces is kept beside it as moments.db.before-restore-<time>.

It refuses while ` + "`moments serve`" + ` or any other moments command has the
database open: every process that opens it holds a shared lock on
moments.lock in the data directory, and restore needs it exclusively.

With PostgreSQL (--db), use pg_restore instead; this command says how.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.Restore(cmd.Context(), df.config(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "restored %s into %s; start the server with `moments serve`\n", args[0], df.data)
			return nil
		},
	}
}
