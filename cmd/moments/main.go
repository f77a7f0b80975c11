// Command moments is the Moments server and its command-line tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/store"
)

// exitError carries an exit code without printing more than the command did.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	var ee exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moments:", err)
		os.Exit(1)
	}
}

// dataFlags are the flags of every command that touches data.
type dataFlags struct {
	data string
	db   string
}

func (f *dataFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.data, "data", envOr("MOMENTS_DATA", "moments-data"),
		"directory of the embedded SQLite database (env MOMENTS_DATA)")
	cmd.PersistentFlags().StringVar(&f.db, "db", os.Getenv("MOMENTS_DB"),
		"PostgreSQL URL, e.g. postgres://user@host:5432/moments; overrides --data (env MOMENTS_DB)")
}

func (f *dataFlags) open(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	c := f.config()
	c.Logger = log
	return store.Open(ctx, c)
}

// openApp opens the store and assembles the installation on it, for a
// command that works as the server would (recompute health, rebuild its
// history, outcome reports). Closing the app's store is the caller's.
func (f *dataFlags) openApp(ctx context.Context) (*app.App, error) {
	log := newLogger(slog.LevelWarn)
	st, err := f.open(ctx, log)
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, st, app.Options{Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// config is the store configuration the flags name.
func (f *dataFlags) config() store.Config { return store.Config{Data: f.data, DB: f.db} }

// setting names a setting both ways, for errors: "--playbook-workers
// (MOMENTS_PLAYBOOK_WORKERS)". Every flag's environment variable is
// MOMENTS_ and the flag's name in capitals, dashes as underscores.
func setting(flag string) string { return "--" + flag + " (" + envName(flag) + ")" }

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "MOMENTS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// envOr returns the environment variable name, or def when it is unset or
// empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRoot() *cobra.Command {
	var df dataFlags
	root := &cobra.Command{
		Use:           "moments",
		Short:         "Moments runs your customers' moments of truth",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	df.register(root)
	root.AddCommand(serveCmd(&df), keysCmd(&df), importCmd(&df))
	root.AddCommand(mapCmd(&df))
	root.AddCommand(usersCmd(&df))
	root.AddCommand(demoCmd(&df))
	root.AddCommand(reportCmd(&df), healthCmd(&df))
	root.AddCommand(backupCmd(&df), restoreCmd(&df))
	return root
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
