package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
)

func serveCmd(df *dataFlags) *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Start the server: tracking API, REST API and UI",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(slog.LevelInfo)
			// Settings are checked before the database is touched.
			o, err := sf.options()
			if err != nil {
				return err
			}
			st, err := df.open(cmd.Context(), log)
			if err != nil {
				return err
			}
			defer st.Close()
			return serve(cmd.Context(), cmd.OutOrStdout(), log, st, o)
		},
	}
	sf.register(cmd)
	return cmd
}

// serveFlags are the flags of `moments serve`; each has a MOMENTS_*
// environment variable (see setting), and a flag given on the command line
// wins.
type serveFlags struct {
	addr, maxAge, adminEmail string
	playbook                 *playbookFlags
}

func (f *serveFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "addr", envOr("MOMENTS_ADDR", "127.0.0.1:8080"), "address to listen on (env MOMENTS_ADDR)")
	fs.StringVar(&f.maxAge, "trigger-max-event-age", envOr("MOMENTS_TRIGGER_MAX_EVENT_AGE", "0"),
		"events older than this when they arrive start no moment, e.g. 168h while replaying history; 0: no limit (env MOMENTS_TRIGGER_MAX_EVENT_AGE)")
	fs.StringVar(&f.adminEmail, "admin-email", envOr("MOMENTS_ADMIN_EMAIL", defaultAdminEmail),
		"email of the first admin, created with a printed password on first start (env MOMENTS_ADMIN_EMAIL)")
	f.playbook = addPlaybookFlags(cmd)
}

// defaultAdminEmail signs in the first admin when no email is given.
const defaultAdminEmail = "admin@localhost"

// options checks the flags and returns what serve does with them.
func (f *serveFlags) options() (serveOptions, error) {
	o := serveOptions{addr: f.addr, adminEmail: strings.TrimSpace(f.adminEmail)}
	if o.addr == "" {
		return o, fmt.Errorf("%s is empty; give an address to listen on such as 127.0.0.1:8080", setting("addr"))
	}
	age, err := time.ParseDuration(strings.TrimSpace(f.maxAge))
	if err != nil || age < 0 {
		return o, fmt.Errorf("%s %q is not a duration such as 168h (0 means no limit)", setting("trigger-max-event-age"), f.maxAge)
	}
	o.triggerMaxAge = age
	if _, err := mail.ParseAddress(o.adminEmail); err != nil || strings.ContainsAny(o.adminEmail, "<> ") {
		return o, fmt.Errorf("%s %q is not an email address such as admin@example.com", setting("admin-email"), f.adminEmail)
	}
	if o.playbook, err = f.playbook.config(); err != nil {
		return o, err
	}
	return o, nil
}

// serveOptions are what `serve` and `demo` do differently.
type serveOptions struct {
	addr string
	// playbook is how playbooks send email and webhooks.
	playbook playbook.Config
	// triggerMaxAge is app.Options.TriggerMaxEventAge.
	triggerMaxAge time.Duration
	// adminEmail is the first admin's email; default admin@localhost.
	adminEmail string
	// ready, when set, runs once the server accepts connections, with its
	// base URL and the keys created on first start (both "" otherwise); it
	// prints them itself. The server keeps running after ready returns nil
	// and stops with its error otherwise.
	ready func(ctx context.Context, a *app.App, url, adminKey, writeKey string) error
}

// serve runs the HTTP server on st until ctx ends, then shuts down
// gracefully: in-flight requests finish (up to 30 s), then the committer
// commits what it accepted.
func serve(ctx context.Context, out io.Writer, log *slog.Logger, st *store.Store, o serveOptions) error {
	addr := o.addr
	a, err := app.New(ctx, st, app.Options{Logger: log, Playbook: o.playbook, TriggerMaxEventAge: o.triggerMaxAge})
	if err != nil {
		return err
	}
	admin, write, err := a.Keys.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("create the first keys: %w", err)
	}
	adminEmail := o.adminEmail
	if adminEmail == "" {
		adminEmail = defaultAdminEmail
	}
	adminPassword, err := a.People.Bootstrap(ctx, adminEmail)
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	defer a.Stop(context.Background()) //nolint:errcheck // logged by the components
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	where := "database " + string(st.Dialect())
	fmt.Fprintf(out, "Moments is listening on http://%s (%s)\n", ln.Addr(), where)
	if adminPassword != "" {
		fmt.Fprintf(out, "\nFirst start: sign in to the UI as %s with the password %s\n", adminEmail, adminPassword)
		fmt.Fprintf(out, "  It is shown this once; change who signs in under Settings → People or with `moments users add`.\n")
	}
	if admin != "" && o.ready == nil {
		fmt.Fprintf(out, "\nFirst start: two API keys were created. They are shown this once; store them now.\n")
		fmt.Fprintf(out, "  admin key (REST API, Authorization: Bearer …): %s\n", admin)
		fmt.Fprintf(out, "  write key (tracking API, Segment write key):   %s\n\n", write)
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if o.ready != nil {
		go func() {
			if err := o.ready(ctx, a, "http://"+ln.Addr().String(), admin, write); err != nil {
				errc <- err
			}
		}()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
