package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// TestEveryFlagHasAnEnvironmentVariable checks both directions: each flag
// of serve says which MOMENTS_* variable sets it (and reads that one), and
// each MOMENTS_* variable the commands read is a flag of some command.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	root := newRoot()
	var flags []string
	for _, c := range root.Commands() {
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f.Name) })
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f.Name) })
	}
	serve, _, err := root.Find([]string{"serve"})
	require.NoError(t, err)
	serve.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		require.Contains(t, f.Usage, "(env "+envName(f.Name)+")", "flag --%s", f.Name)
	})
	serve.LocalFlags().VisitAll(func(f *pflag.Flag) {
		require.Contains(t, f.Usage, "(env "+envName(f.Name)+")", "flag --%s", f.Name)
	})

	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	read := regexp.MustCompile(`"(MOMENTS_[A-Z_]+)"`)
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range read.FindAllSubmatch(src, -1) {
			env := string(m[1])
			flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "MOMENTS_")), "_", "-")
			require.True(t, slices.Contains(flags, flag), "%s reads %s, but no command has the flag --%s", file, env, flag)
		}
	}
}

// TestServeSettings checks each setting of serve from the environment and
// from its flag: good values are taken, bad ones are an error that names
// the setting and says what is expected.
func TestServeSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, o serveOptions)
	}{
		{name: "defaults", check: func(t *testing.T, o serveOptions) {
			require.Equal(t, "127.0.0.1:8080", o.addr)
			require.Zero(t, o.triggerMaxAge)
			require.Zero(t, o.eventRetention, "events are kept forever")
			require.Equal(t, defaultAdminEmail, o.adminEmail)
			require.Zero(t, o.playbook.Workers, "zero: the engine takes its default, 10")
		}},
		{name: "max event age from env", env: map[string]string{"MOMENTS_TRIGGER_MAX_EVENT_AGE": "168h"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, 168*time.Hour, o.triggerMaxAge) }},
		{name: "flag wins over env", env: map[string]string{"MOMENTS_TRIGGER_MAX_EVENT_AGE": "168h"}, args: []string{"--trigger-max-event-age", "1h"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, time.Hour, o.triggerMaxAge) }},
		{name: "bad max event age in env", env: map[string]string{"MOMENTS_TRIGGER_MAX_EVENT_AGE": "banana"},
			wantErr: `--trigger-max-event-age (MOMENTS_TRIGGER_MAX_EVENT_AGE) "banana" is not a duration such as 168h (0 means no limit)`},
		{name: "bad max event age flag", args: []string{"--trigger-max-event-age", "-1h"},
			wantErr: `--trigger-max-event-age (MOMENTS_TRIGGER_MAX_EVENT_AGE) "-1h" is not a duration such as 168h (0 means no limit)`},
		{name: "event retention in days from env", env: map[string]string{"MOMENTS_EVENT_RETENTION": "400d"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, 400*24*time.Hour, o.eventRetention) }},
		{name: "event retention as a duration", args: []string{"--event-retention", "9600h"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, 400*24*time.Hour, o.eventRetention) }},
		{name: "event retention too short", args: []string{"--event-retention", "7d"},
			wantErr: `--event-retention (MOMENTS_EVENT_RETENTION) "7d" is shorter than 30 days (720h), the least events are kept; 0 keeps them forever`},
		{name: "bad event retention in env", env: map[string]string{"MOMENTS_EVENT_RETENTION": "a year"},
			wantErr: `--event-retention (MOMENTS_EVENT_RETENTION) "a year" is not a duration such as 400d or 9600h (0 keeps events forever)`},
		{name: "workers from env", env: map[string]string{"MOMENTS_PLAYBOOK_WORKERS": "4"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, 4, o.playbook.Workers) }},
		{name: "negative workers in env", env: map[string]string{"MOMENTS_PLAYBOOK_WORKERS": "-3"},
			wantErr: `--playbook-workers (MOMENTS_PLAYBOOK_WORKERS) "-3" is not a number of steps from 1 to 1000`},
		{name: "workers not a number", args: []string{"--playbook-workers", "ten"},
			wantErr: `--playbook-workers (MOMENTS_PLAYBOOK_WORKERS) "ten" is not a number of steps from 1 to 1000`},
		{name: "admin email from env", env: map[string]string{"MOMENTS_ADMIN_EMAIL": "ops@acme.example"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, "ops@acme.example", o.adminEmail) }},
		{name: "admin email flag", args: []string{"--admin-email", "lead@acme.example"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, "lead@acme.example", o.adminEmail) }},
		{name: "bad admin email", env: map[string]string{"MOMENTS_ADMIN_EMAIL": "ops"},
			wantErr: `--admin-email (MOMENTS_ADMIN_EMAIL) "ops" is not an email address such as admin@example.com`},
		{name: "bad smtp port", env: map[string]string{"MOMENTS_SMTP_PORT": "70000"},
			wantErr: `--smtp-port (MOMENTS_SMTP_PORT) "70000" is not a port number from 1 to 65535`},
		{name: "bad smtp tls", args: []string{"--smtp-tls", "ssl"},
			wantErr: `--smtp-tls (MOMENTS_SMTP_TLS) "ssl" is not starttls, tls or none`},
		{name: "bad step lease", env: map[string]string{"MOMENTS_PLAYBOOK_STEP_LEASE": "soon"},
			wantErr: `--playbook-step-lease (MOMENTS_PLAYBOOK_STEP_LEASE) "soon" is not a duration such as 15s`},
		{name: "public url from env", env: map[string]string{"MOMENTS_PUBLIC_URL": "https://moments.acme.example"},
			check: func(t *testing.T, o serveOptions) { require.Equal(t, "https://moments.acme.example", o.publicURL) }},
		{name: "bad public url", args: []string{"--public-url", "moments.acme.example"},
			wantErr: `--public-url (MOMENTS_PUBLIC_URL) "moments.acme.example" must be a full http:// or https:// address such as https://moments.example.com`},
		{name: "empty addr", args: []string{"--addr", ""},
			wantErr: `--addr (MOMENTS_ADDR) is empty; give an address to listen on such as 127.0.0.1:8080`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := &cobra.Command{Use: "serve"}
			var f serveFlags
			f.register(c)
			require.NoError(t, c.ParseFlags(tt.args))
			o, err := f.options()
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}
