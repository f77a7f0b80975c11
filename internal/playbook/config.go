package playbook

import (
	"errors"
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/notify"
)

// Config is how playbooks reach the outside world and how fast they work.
// Flags and MOMENTS_* environment variables of `moments serve` map onto
// it; the zero value is valid (no email, unsigned webhooks, defaults).
type Config struct {
	// SMTP is the outgoing mail server. With an empty Host, email steps
	// fail with a message saying email is not configured, and can be
	// retried once it is.
	SMTP notify.SMTPConfig
	// WebhookSecret signs every webhook (Moments-Signature). Empty sends
	// webhooks unsigned.
	WebhookSecret string
	// Webhook tunes webhook delivery within one attempt of a step.
	Webhook notify.SenderConfig
	// Workers is how many steps run at once in this process (default 10).
	Workers int
	// PollInterval is how often due steps and waits are looked for when
	// nothing signals them (default 1s); the job queue polls for jobs at
	// a twentieth of it, at least every 50ms.
	PollInterval time.Duration
	// EscalationInterval is how often overdue tasks are checked (default
	// 1 minute).
	EscalationInterval time.Duration
	// MaxAttempts bounds the attempts of one step before it is marked
	// failed (default 8, spread over about 80 minutes by RetryDelay).
	MaxAttempts int
	// RetryDelay is the wait before attempt n+1 after attempt n failed
	// (default: n⁴ seconds plus 5 seconds).
	RetryDelay func(attempt int) time.Duration
	// StepLease bounds how long a step whose server died stays stuck
	// (default 15s). A server holds a lease on each step it is carrying
	// out and renews it every third of StepLease; a step whose lease ran
	// out is run again by whichever server is up. Shorter recovers sooner
	// after a crash; too short for the database's worst pauses would let
	// a slow but live step be run a second time (its database effects
	// still commit once; email and webhooks carry stable identities).
	StepLease time.Duration
	// EmailsPerAccountPerDay bounds the playbook emails sent for one
	// account in any 24 hours (default 50): moments start on events, which
	// anyone holding the public write key can send, so without a bound a
	// flood of events could make Moments mail an account's contacts
	// without end. An email step over the limit fails, saying so.
	EmailsPerAccountPerDay int
}

// Defaults of Config.
const (
	DefaultWorkers            = 10
	DefaultPollInterval       = time.Second
	DefaultEscalationInterval = time.Minute
	DefaultMaxAttempts        = 8
	DefaultStepLease          = 15 * time.Second
	DefaultEmailsPerAccount   = 50
)

// SMTPConfigured reports whether an SMTP host is set.
func (c Config) SMTPConfigured() bool { return c.SMTP.Host != "" }

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.EscalationInterval == 0 {
		c.EscalationInterval = DefaultEscalationInterval
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.StepLease == 0 {
		c.StepLease = DefaultStepLease
	}
	if c.EmailsPerAccountPerDay == 0 {
		c.EmailsPerAccountPerDay = DefaultEmailsPerAccount
	}
	if c.RetryDelay == nil {
		c.RetryDelay = func(n int) time.Duration {
			return time.Duration(n*n*n*n)*time.Second + 5*time.Second
		}
	}
	return c
}

// Validate reports the first setting that cannot work, in words an operator
// can act on. An SMTP configuration is checked only when a host is set.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.SMTPConfigured() {
		if err := c.SMTP.Validate(); err != nil {
			return err
		}
	} else if c.SMTP.From != "" || c.SMTP.Username != "" || c.SMTP.Password != "" {
		return errors.New("smtp host is empty but other smtp settings are set: set MOMENTS_SMTP_HOST (--smtp-host) to your mail server")
	}
	if err := c.Webhook.Validate(); err != nil {
		return err
	}
	switch {
	case c.Workers < 1 || c.Workers > 1000:
		return fmt.Errorf("playbook workers %d is out of range 1–1000", c.Workers)
	case c.PollInterval < 10*time.Millisecond:
		return fmt.Errorf("playbook poll interval %s is too short; use at least 10ms", c.PollInterval)
	case c.EscalationInterval < time.Second && c.EscalationInterval != 0:
		return fmt.Errorf("escalation interval %s is too short; use at least 1s", c.EscalationInterval)
	case c.MaxAttempts < 1 || c.MaxAttempts > 25:
		return fmt.Errorf("step max attempts %d is out of range 1–25", c.MaxAttempts)
	case c.StepLease < time.Second || c.StepLease > 10*time.Minute:
		return fmt.Errorf("playbook step lease %s is out of range 1s–10m; the default, 15s, suits most installations", c.StepLease)
	}
	return nil
}
