package web

import (
	"net"
	"net/http"
	"strings"
)

// hostCheck answers only requests whose Host names this server: localhost
// names, loopback addresses, the address it listens on and the hosts the
// operator allowed. When it listens on every interface, any IP address is
// accepted too: DNS rebinding needs a name, and an address in the Host
// header is the one the browser connected to.
type hostCheck struct {
	names   map[string]bool
	anyAddr bool
}

func newHostCheck(listen net.Addr, allowed []string) hostCheck {
	c := hostCheck{names: map[string]bool{"localhost": true}}
	for _, h := range allowed {
		c.names[canonicalHost(h)] = true
	}
	if a, ok := listen.(*net.TCPAddr); ok {
		if a.IP.IsUnspecified() {
			c.anyAddr = true
		} else {
			c.names[a.IP.String()] = true
		}
	}
	return c
}

// ValidHostName reports whether h can be given as an allowed host: a DNS
// name or an IP address, with no port or scheme.
func ValidHostName(h string) bool {
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// canonicalHost is a Host header's name, without the port, brackets or a
// trailing dot, in lower case.
func canonicalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

func (c hostCheck) allows(host string) bool {
	h := canonicalHost(host)
	if h == "" {
		return false
	}
	if c.names[h] || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || c.anyAddr)
}

func (c hostCheck) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.allows(r.Host) {
			http.Error(w, "this page does not answer to that host name: start it with --allowed-host NAME to add one", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
