package notify

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// blockedRanges are the networks webhooks may not reach unless allowed:
// the server's own network, where an attacker who can write a journey map
// or a moment's webhook URL could otherwise reach internal services or a
// cloud's metadata address (169.254.169.254).
var blockedRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved"},
	{netip.MustParsePrefix("::/128"), "an unspecified"},
	{netip.MustParsePrefix("::1/128"), "a loopback"},
	{netip.MustParsePrefix("fc00::/7"), "a private"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast"},
}

// BlockedTargetError says a webhook's address is in a network webhooks may
// not reach.
type BlockedTargetError struct {
	Addr netip.Addr
	What string
}

func (e *BlockedTargetError) Error() string {
	return fmt.Sprintf("%s is %s address, which webhooks may not reach; if this receiver is meant to be on your own network, "+
		"allow it with --webhook-allow (MOMENTS_WEBHOOK_ALLOW), e.g. --webhook-allow %s", e.Addr, e.What, allowExample(e.Addr))
}

func allowExample(a netip.Addr) string {
	if a.Is4() {
		return a.String() + "/32"
	}
	return a.String() + "/128"
}

// dialGuard refuses connections to blockedRanges at dial time, on the
// address actually connected to, so a host name that resolves (or is
// rebound) to a private address is refused as surely as the address
// itself. Networks and host names in the allow-list pass.
type dialGuard struct {
	nets  []netip.Prefix
	hosts map[string]bool
}

// newDialGuard parses an allow-list of CIDRs ("10.0.0.0/8"), addresses
// ("127.0.0.1") and host names ("hooks.internal").
func newDialGuard(allow []string) (*dialGuard, error) {
	g := &dialGuard{hosts: map[string]bool{}}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case strings.Contains(a, "/"):
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("webhook allow-list entry %q is not a network such as 10.0.0.0/8: %v", a, err)
			}
			g.nets = append(g.nets, p.Masked())
		default:
			if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
				g.nets = append(g.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			g.hosts[strings.ToLower(strings.TrimSuffix(a, "."))] = true
		}
	}
	return g, nil
}

// check refuses addr (ip:port) when it is blocked and not allowed.
func (g *dialGuard) check(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("webhook address %q cannot be checked: %v", addr, err)
	}
	ip := ap.Addr().Unmap()
	for _, p := range g.nets {
		if p.Contains(ip) {
			return nil
		}
	}
	for _, b := range blockedRanges {
		if b.prefix.Contains(ip) {
			return &BlockedTargetError{Addr: ip, What: b.what}
		}
	}
	return nil
}

// dialContext dials through base, checking the address connected to
// unless the host name is allowed.
func (g *dialGuard) dialContext(base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := *base
	guarded.Control = func(_, address string, _ syscall.RawConn) error { return g.check(address) }
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err == nil && g.hosts[strings.ToLower(strings.TrimSuffix(host, "."))] {
			return base.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}
