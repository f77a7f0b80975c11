package demo

import (
	"fmt"
	"time"
)

// Defaults of Config.
const (
	DefaultAccounts = 300
	DefaultMonths   = 12
	// MaxAccounts and MaxMonths bound a demo to what one laptop generates in
	// well under a minute.
	MaxAccounts = 20000
	MaxMonths   = 36
)

// Config sizes the synthetic company. The same Config gives the same data.
type Config struct {
	// Seed chooses the company; default 1.
	Seed uint64
	// Accounts is the number of customer accounts; default 300.
	Accounts int
	// Months is the length of the usage history; default 12.
	Months int
	// End is when the history ends (normally now). Times are truncated to
	// the minute, so that a demo started twice within a minute sends the
	// same data; default now.
	End time.Time
}

// Validate fills defaults and checks the ranges, naming the flag at fault.
func (c *Config) Validate() error {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Accounts == 0 {
		c.Accounts = DefaultAccounts
	}
	if c.Months == 0 {
		c.Months = DefaultMonths
	}
	if c.Accounts < 1 || c.Accounts > MaxAccounts {
		return fmt.Errorf("--accounts must be between 1 and %d, got %d", MaxAccounts, c.Accounts)
	}
	if c.Months < 1 || c.Months > MaxMonths {
		return fmt.Errorf("--months must be between 1 and %d, got %d", MaxMonths, c.Months)
	}
	if c.End.IsZero() {
		c.End = time.Now()
	}
	c.End = c.End.UTC().Truncate(time.Minute)
	return nil
}

// Start is when the usage history begins.
func (c Config) Start() time.Time { return c.End.AddDate(0, -c.Months, 0) }
