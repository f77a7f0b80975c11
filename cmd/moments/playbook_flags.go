package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/playbook"
)

// playbookFlags are the flags of `moments serve` that say how playbooks
// send email and webhooks. Each has a MOMENTS_* environment variable; a
// flag given on the command line wins.
type playbookFlags struct {
	smtpHost, smtpPort, smtpUser, smtpPassword, smtpFrom, smtpTLS string
	webhookSecret                                                 string
	workers                                                       string
	stepLease                                                     string
}

func addPlaybookFlags(cmd *cobra.Command) *playbookFlags {
	f, fs := &playbookFlags{}, cmd.Flags()
	fs.StringVar(&f.smtpHost, "smtp-host", envOr("MOMENTS_SMTP_HOST", ""),
		"outgoing mail server for playbook emails, e.g. smtp.example.com; empty: email steps fail, and can be retried, until it is set (env MOMENTS_SMTP_HOST)")
	fs.StringVar(&f.smtpPort, "smtp-port", envOr("MOMENTS_SMTP_PORT", ""),
		"mail server port; default 587 for starttls, 465 for tls, 25 for none (env MOMENTS_SMTP_PORT)")
	fs.StringVar(&f.smtpUser, "smtp-username", envOr("MOMENTS_SMTP_USERNAME", ""), "mail server login (env MOMENTS_SMTP_USERNAME)")
	fs.StringVar(&f.smtpPassword, "smtp-password", envOr("MOMENTS_SMTP_PASSWORD", ""),
		"mail server password; prefer the environment variable, which does not show in the process list (env MOMENTS_SMTP_PASSWORD)")
	fs.StringVar(&f.smtpFrom, "smtp-from", envOr("MOMENTS_SMTP_FROM", ""),
		`sender of playbook emails, e.g. "Acme Customer Success <cs@acme.example>" (env MOMENTS_SMTP_FROM)`)
	fs.StringVar(&f.smtpTLS, "smtp-tls", envOr("MOMENTS_SMTP_TLS", "starttls"), "starttls, tls or none (env MOMENTS_SMTP_TLS)")
	fs.StringVar(&f.webhookSecret, "webhook-secret", envOr("MOMENTS_WEBHOOK_SECRET", ""),
		"secret that signs playbook webhooks (Moments-Signature header); empty sends them unsigned (env MOMENTS_WEBHOOK_SECRET)")
	fs.StringVar(&f.workers, "playbook-workers", envOr("MOMENTS_PLAYBOOK_WORKERS", ""),
		"playbook steps run at once, from 1 to 1000; default 10 (env MOMENTS_PLAYBOOK_WORKERS)")
	fs.StringVar(&f.stepLease, "playbook-step-lease", envOr("MOMENTS_PLAYBOOK_STEP_LEASE", ""),
		"how soon a playbook step left unfinished by a server that died runs again; default 15s (env MOMENTS_PLAYBOOK_STEP_LEASE)")
	return f
}

// config returns the playbook configuration, checked.
func (f *playbookFlags) config() (playbook.Config, error) {
	var c playbook.Config
	c.SMTP.Host, c.SMTP.Username, c.SMTP.Password, c.SMTP.From = f.smtpHost, f.smtpUser, f.smtpPassword, f.smtpFrom
	if f.smtpHost != "" {
		c.SMTP.TLS = f.smtpTLS
	}
	if f.smtpPort != "" {
		p, err := strconv.Atoi(f.smtpPort)
		if err != nil || p < 1 || p > 65535 {
			return c, fmt.Errorf("%s %q is not a port number from 1 to 65535", setting("smtp-port"), f.smtpPort)
		}
		c.SMTP.Port = p
	}
	if tls := strings.TrimSpace(f.smtpTLS); !slices.Contains([]string{"starttls", "tls", "none"}, tls) {
		return c, fmt.Errorf("%s %q is not starttls, tls or none", setting("smtp-tls"), f.smtpTLS)
	}
	c.WebhookSecret = f.webhookSecret
	if f.workers != "" {
		n, err := strconv.Atoi(strings.TrimSpace(f.workers))
		if err != nil || n < 1 || n > 1000 {
			return c, fmt.Errorf("%s %q is not a number of steps from 1 to 1000", setting("playbook-workers"), f.workers)
		}
		c.Workers = n
	}
	if f.stepLease != "" {
		d, err := time.ParseDuration(f.stepLease)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s %q is not a duration such as 15s", setting("playbook-step-lease"), f.stepLease)
		}
		c.StepLease = d
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("playbook settings: %w", err)
	}
	return c, nil
}
