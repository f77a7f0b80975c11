package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/survey"
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
	addr, maxAge, adminEmail, publicURL string
	retention                           string
	playbook                            *playbookFlags
	security                            serverSecurity
}

func (f *serveFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "addr", envOr("MOMENTS_ADDR", "127.0.0.1:8080"), "address to listen on (env MOMENTS_ADDR)")
	fs.StringVar(&f.maxAge, "trigger-max-event-age", envOr("MOMENTS_TRIGGER_MAX_EVENT_AGE", "0"),
		"events older than this when they arrive start no moment, e.g. 168h while replaying history; 0: no limit (env MOMENTS_TRIGGER_MAX_EVENT_AGE)")
	fs.StringVar(&f.retention, "event-retention", envOr("MOMENTS_EVENT_RETENTION", "0"),
		"how long raw events are kept, e.g. 400d or 9600h, at least 30d; older ones are dropped daily and their messageIds no longer deduplicate; health, scorecards and reports keep their history; 0: forever (env MOMENTS_EVENT_RETENTION)")
	fs.StringVar(&f.adminEmail, "admin-email", envOr("MOMENTS_ADMIN_EMAIL", defaultAdminEmail),
		"email of the first admin, created with a printed password on first start (env MOMENTS_ADMIN_EMAIL)")
	fs.StringVar(&f.publicURL, "public-url", envOr("MOMENTS_PUBLIC_URL", ""),
		"the address people reach this server at, e.g. https://moments.example.com behind a proxy; survey links start with it; default http:// and the listen address (env MOMENTS_PUBLIC_URL)")
	f.playbook = addPlaybookFlags(cmd)
	fs.StringVar(&f.security.tlsCert, "tls-cert", envOr("MOMENTS_TLS_CERT", ""),
		"PEM certificate (with its chain) to serve HTTPS; needs --tls-key; HSTS is then sent (env MOMENTS_TLS_CERT)")
	fs.StringVar(&f.security.tlsKey, "tls-key", envOr("MOMENTS_TLS_KEY", ""), "PEM private key of --tls-cert (env MOMENTS_TLS_KEY)")
	fs.StringVar(&f.security.metricsAddr, "metrics-addr", envOr("MOMENTS_METRICS_ADDR", ""),
		"serve /metrics on this address only, e.g. 127.0.0.1:9090 (env MOMENTS_METRICS_ADDR)")
	fs.StringVar(&f.security.metricsToken, "metrics-token", envOr("MOMENTS_METRICS_TOKEN", ""),
		"serve /metrics on the main address to requests with 'Authorization: Bearer <token>'; without this or --metrics-addr, /metrics is not served (env MOMENTS_METRICS_TOKEN)")
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
	if o.eventRetention, err = parseRetention(f.retention); err != nil {
		return o, fmt.Errorf("%s %w", setting("event-retention"), err)
	}
	if _, err := mail.ParseAddress(o.adminEmail); err != nil || strings.ContainsAny(o.adminEmail, "<> ") {
		return o, fmt.Errorf("%s %q is not an email address such as admin@example.com", setting("admin-email"), f.adminEmail)
	}
	if o.playbook, err = f.playbook.config(); err != nil {
		return o, err
	}
	o.publicURL = strings.TrimSpace(f.publicURL)
	if err := (&survey.Config{PublicURL: o.publicURL}).Validate(); err != nil {
		return o, fmt.Errorf("%s %q must be a full http:// or https:// address such as https://moments.example.com", setting("public-url"), f.publicURL)
	}
	if err := f.security.validate(); err != nil {
		return o, err
	}
	o.security = f.security
	return o, nil
}

// minEventRetention is the shortest event retention: shorter would drop
// events that the health model's windows and a replay of recent history
// still read.
const minEventRetention = 30 * 24 * time.Hour

// parseRetention reads an event retention: days ("400d") or a duration as
// the other duration flags take it ("9600h"); 0 keeps events forever.
func parseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 400d or 9600h (0 keeps events forever)", v)
	}
	if d > 0 && d < minEventRetention {
		return 0, fmt.Errorf("%q is shorter than 30 days (720h), the least events are kept; 0 keeps them forever", v)
	}
	return d, nil
}

// serverSecurity is how the server is reached: TLS and where metrics go.
type serverSecurity struct {
	tlsCert, tlsKey           string
	metricsAddr, metricsToken string
}

// validate checks the settings before anything starts, in an operator's
// words.
func (c serverSecurity) validate() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")
	}
	if c.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
			return fmt.Errorf("--tls-cert %s / --tls-key %s cannot be used: %w", c.tlsCert, c.tlsKey, err)
		}
	}
	if c.metricsToken != "" && len(c.metricsToken) < 16 {
		return errors.New("--metrics-token must have at least 16 characters")
	}
	return nil
}

// serveOptions are what `serve` and `demo` do differently.
type serveOptions struct {
	addr string
	// publicURL is the base of survey links; empty means http:// and the
	// address the server listens on.
	publicURL string
	// playbook is how playbooks send email and webhooks.
	playbook playbook.Config
	// triggerMaxAge is app.Options.TriggerMaxEventAge.
	triggerMaxAge time.Duration
	// eventRetention is app.Options.EventRetention.
	eventRetention time.Duration
	// security is TLS and metrics.
	security serverSecurity
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
	if err := o.security.validate(); err != nil {
		return err
	}
	// Listening first gives survey links the real address when the port
	// is chosen by the system (:0).
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer ln.Close()
	publicURL := o.publicURL
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	a, err := app.New(ctx, st, app.Options{Logger: log, Playbook: o.playbook, TriggerMaxEventAge: o.triggerMaxAge,
		EventRetention: o.eventRetention,
		Survey:         survey.Config{PublicURL: publicURL}, MetricsToken: o.security.metricsToken})
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
	hs := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	scheme := "http"
	if o.security.tlsCert != "" {
		scheme = "https"
	}
	where := "database " + string(st.Dialect())
	fmt.Fprintf(out, "Moments is listening on %s://%s (%s)\n", scheme, ln.Addr(), where)
	errc := make(chan error, 3)
	if o.security.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.security.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on --metrics-addr %s: %w", o.security.metricsAddr, err)
		}
		ms := &http.Server{Handler: a.Web.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		defer ms.Close()
		fmt.Fprintf(out, "Metrics are served on http://%s/metrics\n", mln.Addr())
		go func() {
			if err := ms.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	if adminPassword != "" {
		fmt.Fprintf(out, "\nFirst start: sign in to the UI as %s with the password %s\n", adminEmail, adminPassword)
		fmt.Fprintf(out, "  It is shown this once; change who signs in under Settings → People or with `moments users add`.\n")
	}
	if admin != "" && o.ready == nil {
		fmt.Fprintf(out, "\nFirst start: two API keys were created. They are shown this once; store them now.\n")
		fmt.Fprintf(out, "  admin key (REST API, Authorization: Bearer …): %s\n", admin)
		fmt.Fprintf(out, "  write key (tracking API, Segment write key):   %s\n\n", write)
	}
	go func() {
		if o.security.tlsCert != "" {
			errc <- hs.ServeTLS(ln, o.security.tlsCert, o.security.tlsKey)
			return
		}
		errc <- hs.Serve(ln)
	}()
	if o.ready != nil {
		go func() {
			if err := o.ready(ctx, a, scheme+"://"+ln.Addr().String(), admin, write); err != nil {
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
