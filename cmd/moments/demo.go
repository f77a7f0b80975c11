package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/demo"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/store"
)

// demoPassword is the password of every demo sign-in. It is printed on the
// terminal; the demo listens on localhost unless told otherwise.
const demoPassword = "northwind-demo"

// demoPeople are the sign-ins the demo creates: an admin, the head of
// customer success (ops) and the CSMs who own the accounts, so that each
// CSM's cockpit shows their own book.
var demoPeople = []struct {
	email, name string
	role        auth.Role
}{
	{"admin@northwind.example", "Demo Admin", auth.RoleAdmin},
	{"head-of-cs@northwind.example", "Alex Morgan", auth.RoleOps},
	{"maya.chen@northwind.example", "Maya Chen", auth.RoleCSM},
	{"jonas.weber@northwind.example", "Jonas Weber", auth.RoleCSM},
	{"priya.raman@northwind.example", "Priya Raman", auth.RoleCSM},
	{"diego.alvarez@northwind.example", "Diego Alvarez", auth.RoleCSM},
	{"sofia.rossi@northwind.example", "Sofia Rossi", auth.RoleCSM},
	{"sam.okafor@northwind.example", "Sam Okafor", auth.RoleCSM},
}

// demoGoLive is how long ago Northwind "went live" with Moments: its year
// of history fills accounts, health and reports, but only the events of the
// last demoGoLive start moments, as they would have since go-live. Without
// it a CSM's cockpit would open with tasks for year-old kickoffs.
const demoGoLive = 30 * 24 * time.Hour

func demoCmd(df *dataFlags) *cobra.Command {
	var (
		cfg  demo.Config
		addr string
		live bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start Moments with an invented company and its customers, ready to explore",
		Long: `Start Moments on a fresh embedded database, apply the example journey map
(examples/b2b-saas.yaml) and fill it with Northwind Analytics, an invented
B2B SaaS company: by default 300 customer accounts with 12 months of history
(contracts, people and their roles, product usage, support tickets, survey
answers, renewals and churn), sent through the tracking API like a real
Segment source, so that triggers, playbooks, health and reports are all
computed by the real engine. Then it keeps a few events a second coming so
that the cockpit changes while you watch.

The data lives in a temporary directory that is removed when the demo stops,
unless --data names a directory to keep (the global default ./moments-data
and MOMENTS_DATA do not apply here; --db runs it on PostgreSQL when given).
Email and webhooks from the playbooks go to sinks on this machine. The same
--seed gives the same company. See docs/demo.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			dir, temp, where := df.data, false, df.data
			onPostgres := cmd.Flags().Changed("db")
			if onPostgres {
				where = "the PostgreSQL database"
			} else if !cmd.Flags().Changed("data") {
				d, err := os.MkdirTemp("", "moments-demo-*")
				if err != nil {
					return fmt.Errorf("create a temporary directory for the demo: %w", err)
				}
				dir, temp, where = d, true, d
				defer os.RemoveAll(d)
			}
			// Errors only: the terminal belongs to the progress bar and the
			// welcome text (the demo's webhooks, for one, go to addresses
			// that do not exist, and would warn on every retry).
			log := newLogger(slog.LevelError)
			sc := store.Config{Data: dir, Logger: log}
			if onPostgres {
				sc.DB = df.db
			}
			st, err := store.Open(cmd.Context(), sc)
			if err != nil {
				return err
			}
			defer st.Close()
			// The sign-ins exist before the server starts, so that it
			// does not invent a first admin of its own.
			if err := demoSignIns(cmd.Context(), st); err != nil {
				return err
			}
			// Playbooks send email and webhooks to sinks on this machine,
			// so every step completes and nothing leaves it.
			sinks, err := demo.StartSinks()
			if err != nil {
				return fmt.Errorf("start the demo's mail and webhook sinks: %w", err)
			}
			defer sinks.Close()
			fmt.Fprintf(out, "Moments demo: Northwind Analytics and %d customer accounts, %d months of history (seed %d)\n",
				cfg.Accounts, cfg.Months, cfg.Seed)
			d := &demoRun{cfg: cfg, out: out, errOut: errOut, live: live, where: where, temp: temp, sinks: sinks}
			return serve(cmd.Context(), out, log, st, serveOptions{addr: addr, ready: d.ready,
				playbook: playbook.Config{SMTP: sinks.SMTP(), Webhook: sinks.Webhook()}, triggerMaxAge: demoGoLive})
		},
	}
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", 1, "seed of the invented company; the same seed gives the same data")
	cmd.Flags().IntVar(&cfg.Accounts, "accounts", demo.DefaultAccounts, "number of customer accounts")
	cmd.Flags().IntVar(&cfg.Months, "months", demo.DefaultMonths, "months of usage history")
	cmd.Flags().BoolVar(&live, "live", true, "keep sending a few events a second after the history (--live=false to stop)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	return cmd
}

// demoRun is one `moments demo` after the server listens.
type demoRun struct {
	cfg         demo.Config
	out, errOut io.Writer
	live        bool
	// where the data is: a directory, or the PostgreSQL database; temp
	// says it is removed at the end.
	where string
	temp  bool
	sinks *demo.Sinks
}

// ready fills the running installation: the map, the sign-ins, the
// history, the hand-started moments; then it prints what to do and keeps
// the live trickle going.
func (d *demoRun) ready(ctx context.Context, a *app.App, url, adminKey, writeKey string) error {
	err := d.fill(ctx, a, url, adminKey, writeKey)
	if ctx.Err() != nil {
		return nil // stopped by the user: not an error
	}
	return err
}

func (d *demoRun) fill(ctx context.Context, a *app.App, url, adminKey, writeKey string) error {
	out := d.out
	res, err := a.Journey.Apply(ctx, "examples/b2b-saas.yaml", d.sinks.Map(), "moments demo")
	if err != nil {
		return fmt.Errorf("apply the example journey map: %w", err)
	}
	if journey.HasErrors(res.Diagnostics) {
		return fmt.Errorf("the example journey map has errors: %s", res.Diagnostics[0])
	}
	fmt.Fprintf(out, "  Journey map applied: examples/b2b-saas.yaml (version %d); its email and webhooks go to sinks on this machine\n", res.Version)
	// The customers answer the surveys the map's survey steps send, through
	// the answer page, as long as the demo runs.
	go d.sinks.AnswerSurveys(ctx, demo.AnswerOptions{})

	// Keys: the first start's, or new ones when the data was kept. Their
	// secrets are kept only as hashes, so a restart cannot print the old
	// ones again: it revokes the keys the previous start issued, so the
	// key list holds one set, not one per restart.
	if err := revokeDemoKeys(ctx, a, writeKey == ""); err != nil {
		return err
	}
	if writeKey == "" {
		if _, writeKey, err = a.Keys.Create(ctx, auth.ScopeWrite, demoKey); err != nil {
			return err
		}
		if _, adminKey, err = a.Keys.Create(ctx, auth.ScopeAdmin, demoKey); err != nil {
			return err
		}
	}
	// Northwind's history comes from its own servers (CRM, billing, the
	// product's backend), which send contacts' email addresses and names:
	// that takes a server key (docs/security.md). The write key printed for
	// the user is the plain one a browser may hold.
	_, backendKey, err := a.Keys.CreateServer(ctx, demoBackendKey)
	if err != nil {
		return err
	}

	t := demo.Target{URL: url, WriteKey: backendKey}
	company, err := demo.NewCompany(d.cfg)
	if err != nil {
		return err
	}
	n, err := a.Store.CountAccounts(ctx)
	if err != nil {
		return err
	}
	var result *demo.Result
	if n > 0 {
		fmt.Fprintf(out, "  %s already holds %d accounts: not generating the history again.\n", d.where, n)
		result = &demo.Result{Company: company, Histories: company.Histories()}
	} else {
		bar := newProgressBar(d.errOut)
		result, err = demo.Generate(ctx, d.cfg, t, bar.update)
		bar.done()
		if err != nil {
			return err
		}
		secs := result.Elapsed.Seconds()
		fmt.Fprintf(out, "  Sent %s events for %d accounts in %.1f s (%s events/s)\n",
			thousands(result.Messages), len(result.Histories), secs, thousands(int(float64(result.Messages)/secs)))
		// The history was imported, not lived: rebuild its days now so the
		// trend charts and the backtest read them from the first page.
		hs, err := a.Health.SyncHistory(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  Rebuilt %s days of health history for %d accounts in %.1f s\n",
			thousands(int(hs.Days)), hs.Accounts, hs.Duration.Seconds())
		sc, err := demo.RunShowcase(ctx, t, adminKey, result)
		if err != nil {
			return err
		}
		printShowcase(out, sc)
		// The CSMs work the tasks the history's playbooks gave them.
		if m, _, err := a.Journey.Get(ctx); err == nil {
			w, err := demo.WorkTasks(ctx, a.Store, m, time.Now().UTC(), 30*time.Second)
			if err != nil {
				return fmt.Errorf("complete the demo's tasks: %w", err)
			}
			fmt.Fprintf(out, "  CSMs completed %d of %d playbook tasks (%d within their ideal step's target), recording %.1f hours of effort\n",
				w.Done, w.Tasks, w.OnTime, float64(w.EffortMinutes)/60)
		}
	}

	d.printWelcome(ctx, url, adminKey, writeKey, result)
	if !d.live {
		return nil
	}
	return demo.Live(ctx, result.Histories, t, demo.LiveOptions{})
}

// The names of the keys the demo issues for itself.
const (
	demoKey        = "moments demo"
	demoBackendKey = "moments demo backend"
)

// revokeDemoKeys revokes the keys an earlier start of the demo issued on
// this data: always its backend key, and its printed write and admin keys
// when new ones are about to be issued (withPrinted). Keys someone created
// by hand keep working.
func revokeDemoKeys(ctx context.Context, a *app.App, withPrinted bool) error {
	keys, err := a.Store.ListKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.RevokedAt != nil || !(k.Name == demoBackendKey || withPrinted && k.Name == demoKey) {
			continue
		}
		if err := a.Keys.Revoke(ctx, k.ID); err != nil {
			return fmt.Errorf("revoke the previous demo key %s: %w", k.ID, err)
		}
	}
	return nil
}

// demoSignIns creates the demo's people; on a kept data directory they
// exist already and keep their passwords.
func demoSignIns(ctx context.Context, st *store.Store) error {
	people := auth.NewPeople(st, auth.PeopleConfig{})
	for _, p := range demoPeople {
		if _, _, err := people.Add(ctx, p.email, p.name, p.role, demoPassword); err != nil && !errors.Is(err, store.ErrUserExists) {
			return fmt.Errorf("create the demo sign-in %s: %w", p.email, err)
		}
	}
	return nil
}

func printShowcase(out io.Writer, sc demo.Showcase) {
	if sc.CSMStarted {
		fmt.Fprintf(out, "  A CSM started the moment %q for %s by hand.\n", sc.CSMMoment, sc.CSMAccount)
	} else if sc.CSMNote != "" {
		fmt.Fprintf(out, "  Could not start the CSM moment %q: %s\n", sc.CSMMoment, sc.CSMNote)
	}
	if sc.BroadcastID != "" {
		fmt.Fprintf(out, "  The vendor broadcast %q reached %d accounts.\n", sc.BroadcastMoment, sc.BroadcastReached)
	} else if sc.BroadcastNote != "" {
		fmt.Fprintf(out, "  Could not broadcast %q: %s\n", sc.BroadcastMoment, sc.BroadcastNote)
	}
}

// printWelcome prints where to go and three things to try, adapted to what
// this server offers (the UI, the reports).
func (d *demoRun) printWelcome(ctx context.Context, url, adminKey, writeKey string, r *demo.Result) {
	out := d.out
	ui := probe(ctx, url+"/signin", "") == http.StatusOK
	exceptions := probe(ctx, url+"/api/v1/reports/exceptions", adminKey) == http.StatusOK

	// Pick accounts worth opening: a captive one (the cable-company case)
	// and a sponsor change that is going badly.
	var captive, sponsor *demo.Account
	for _, h := range r.Histories {
		switch {
		case captive == nil && h.Account.Persona == demo.Captive && h.Churned.IsZero():
			captive = h.Account
		case sponsor == nil && h.Account.Persona == demo.SponsorChange && !h.Account.SponsorHandled && h.Churned.IsZero():
			sponsor = h.Account
		}
	}
	if captive == nil || sponsor == nil { // tiny companies: any account will do
		captive, sponsor = r.Histories[0].Account, r.Histories[len(r.Histories)-1].Account
	}
	csm := "maya.chen@northwind.example"

	fmt.Fprintf(out, "\nOpen %s\n", url)
	if ui {
		fmt.Fprintf(out, "  Sign in as %s (a CSM) or admin@northwind.example; the password is %s\n", csm, demoPassword)
	}
	fmt.Fprintf(out, "  API keys:  admin (REST API, Authorization: Bearer …) %s\n", adminKey)
	fmt.Fprintf(out, "             write (tracking API, Segment write key)    %s\n", writeKey)

	fmt.Fprintln(out, "\nThree things to try first:")
	if ui {
		fmt.Fprintf(out, "  1. The cockpit (%s/): %s's tasks from the moments that fired, overdue ones first.\n", url, csm)
		fmt.Fprintf(out, "  2. %s uses everything and is unhappy (the cable-company case): %s/accounts/%s\n", captive.Name, url, captive.ID)
		if exceptions {
			fmt.Fprintf(out, "  3. Reports → Exceptions (%s/reports/exceptions): who is struggling, ranked by ARR at risk and renewal.\n", url)
		} else {
			fmt.Fprintf(out, "  3. The journey (%s/journey): stages across, teams down, each moment coloured by how well it is delivered.\n", url)
		}
	} else {
		auth := `-H "Authorization: Bearer ` + adminKey + `"`
		fmt.Fprintf(out, "  1. The accounts of one CSM:    curl %s '%s/api/v1/accounts?owner=%s'\n", auth, url, csm)
		fmt.Fprintf(out, "  2. %s lost its sponsor: curl %s %s/api/v1/accounts/%s\n", sponsor.Name, auth, url, sponsor.ID)
		if exceptions {
			fmt.Fprintf(out, "  3. Struggling customers:       curl %s %s/api/v1/reports/exceptions\n", auth, url)
		} else {
			fmt.Fprintf(out, "  3. %s's events:  curl %s '%s/api/v1/events?account=%s'\n", captive.Name, auth, url, captive.ID)
		}
	}
	fmt.Fprintln(out)
	if d.live {
		fmt.Fprintln(out, "Live: a few events a second keep arriving from the customers (--live=false to stop that).")
	}
	if d.temp {
		fmt.Fprintf(out, "The data is in %s and is removed when you stop the demo (Ctrl+C); --data DIR keeps it.\n", d.where)
	} else {
		fmt.Fprintf(out, "The data is kept in %s. Press Ctrl+C to stop.\n", d.where)
	}
}

// probe returns the status of a GET, or 0 when the server cannot be
// reached.
func probe(ctx context.Context, url, key string) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// progressBar draws a bar in place on a terminal line.
type progressBar struct {
	w     io.Writer
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

func (p *progressBar) update(sent, total int) {
	const width = 32
	frac := 1.0
	if total > 0 {
		frac = float64(sent) / float64(total)
	}
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r  Sending history [%s%s] %3.0f%%  %s/%s events", strings.Repeat("#", n), strings.Repeat(".", width-n),
		frac*100, thousands(sent), thousands(total))
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// thousands formats n with thousands separators: 176,920.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
