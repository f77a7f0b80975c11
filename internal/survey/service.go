package survey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
)

// Config is how surveys reach people. `moments serve` maps its flags and
// MOMENTS_* variables onto it.
type Config struct {
	// PublicURL is the address people reach Moments at, such as
	// https://moments.example.com; survey links start with it. Required to
	// send surveys (serve defaults it to http:// and the listen address).
	PublicURL string
	// SMTP is the outgoing mail server (the playbooks' one).
	SMTP notify.SMTPConfig
	// CommentWindow is how long after a one-click score the answer's event
	// waits for the comment before it is ingested without one (default
	// 15 minutes). Submitting the page ingests it at once.
	CommentWindow time.Duration
	// SweepInterval is how often reminders and waiting answers are looked
	// at (default 1 minute).
	SweepInterval time.Duration
}

// Defaults of Config.
const (
	DefaultCommentWindow = 15 * time.Minute
	DefaultSweepInterval = time.Minute
)

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.CommentWindow == 0 {
		c.CommentWindow = DefaultCommentWindow
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.CommentWindow < 0 || c.SweepInterval < 0 {
		return errors.New("survey comment window and sweep interval must be positive")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url must be a full http:// or https:// address such as https://moments.example.com, got %q", c.PublicURL)
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	return nil
}

// Options assemble a Service.
type Options struct {
	Store   *store.Store
	Journey *journey.Live
	Config  Config
	Logger  *slog.Logger
	// Now is the clock; default time.Now (UTC).
	Now func() time.Time
}

// Service sends surveys, takes answers and sends reminders.
type Service struct {
	st      *store.Store
	journey *journey.Live
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	mailer  *notify.Mailer

	stop context.CancelFunc
	done chan struct{}
	// sweepMu serialises Sweep between the loop and tests.
	sweepMu sync.Mutex
}

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Journey == nil {
		return nil, errors.New("surveys need the store and the live journey map")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	s := &Service{st: o.Store, journey: o.Journey, cfg: o.Config, log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	if o.Config.SMTP.Host != "" {
		m, err := notify.NewMailer(o.Config.SMTP)
		if err != nil {
			return nil, err
		}
		s.mailer = m
	}
	return s, nil
}

// PublicURL is the base of survey links.
func (s *Service) PublicURL() string { return s.cfg.PublicURL }

// Start runs the sweeper (reminders, answers waiting for their event)
// until Stop.
func (s *Service) Start(ctx context.Context) error {
	ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.SweepInterval)
		defer t.Stop()
		for {
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("survey sweep failed; trying again at the next interval", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop stops the sweeper.
func (s *Service) Stop(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sweep ingests the events of answers whose comment window ended and sends
// the reminders that are due. Tests call it with a driven clock.
func (s *Service) Sweep(ctx context.Context) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	now := s.now()
	waiting, err := s.st.SurveysAwaitingEvent(ctx, now.Add(-s.cfg.CommentWindow), 500)
	if err != nil {
		return err
	}
	var errs []error
	for _, x := range waiting {
		errs = append(errs, s.emit(ctx, x))
	}
	m, _, err := s.journey.Get(ctx)
	if errors.Is(err, journey.ErrNoMap) {
		return errors.Join(errs...)
	}
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	rules, err := RulesOf(m.SurveyRules)
	if err != nil || rules.ReminderAfter == nil {
		return errors.Join(append(errs, err)...)
	}
	due, err := s.st.SurveysToRemind(ctx, now.Add(-rules.ReminderAfter.Approx()), now, 500)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, x := range due {
		errs = append(errs, s.remind(ctx, m, x))
	}
	return errors.Join(errs...)
}
