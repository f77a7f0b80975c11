package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuCap is a CPU cgroup that holds processes to a share of the machine's
// cores (cgroup v2's cpu.max, or v1's CFS quota): the servers benchmark
// gives each server a CPU of its own size, as servers on machines of their
// own have, while the database and the senders use the rest.
type cpuCap struct {
	dir string
	v2  bool
}

// newCPUCap creates the cgroup name capped at cores (0.25: a quarter of
// one core). It needs Linux, root and a writable cgroup file system with
// the cpu controller; the error says which is missing.
func newCPUCap(name string, cores float64) (*cpuCap, error) {
	const period = 100_000 // µs
	quota := strconv.Itoa(int(cores * period))
	if ctl, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(" "+string(ctl)+" ", " cpu ") {
		c := &cpuCap{dir: filepath.Join("/sys/fs/cgroup", name), v2: true}
		if err := os.Mkdir(c.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		return c, c.write("cpu.max", quota+" "+strconv.Itoa(period))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err != nil {
		return nil, fmt.Errorf("no cgroup cpu controller (neither v2's cpu.max nor v1's cpu.cfs_quota_us): %w", err)
	}
	c := &cpuCap{dir: filepath.Join("/sys/fs/cgroup/cpu", name)}
	if err := os.Mkdir(c.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := c.write("cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
		return nil, err
	}
	return c, c.write("cpu.cfs_quota_us", quota)
}

func (c *cpuCap) write(file, value string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0o644)
}

// add moves a process, all its threads, into the cgroup.
func (c *cpuCap) add(pid int) error { return c.write("cgroup.procs", strconv.Itoa(pid)) }

// periods reads the cgroup's CPU accounting (cpu.stat): how many of the
// scheduler's periods (100 ms each) its processes ran in, and in how many
// the cap held them back. Throttled in most periods means the cap, not the
// database, set their pace.
func (c *cpuCap) periods() (all, throttled int64) {
	raw, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_periods":
			all = n
		case "nr_throttled":
			throttled = n
		}
	}
	return all, throttled
}

// remove deletes the cgroup once its processes have ended.
func (c *cpuCap) remove() {
	for range 50 {
		if os.Remove(c.dir) == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
