package config

import (
	"net/url"
	"os"
	"slices"
	"strings"
)

// masked stands in for a password or an API key.
const masked = "xxxxx"

// Redact returns a URL with its password masked, fit for errors, logs and
// usage texts: redis://app:s3cret@host:6379/0 becomes
// redis://app:xxxxx@host:6379/0. A string that is not a URL loses
// everything before its last '@' after the scheme (as does a URL with more
// than one '@', where the parser's idea of the password may be wrong), so a
// malformed URL never shows its credentials either.
func Redact(raw string) string {
	if raw == "" {
		return ""
	}
	if u, err := url.Parse(raw); err == nil && u.Host != "" && strings.Count(raw, "@") <= 1 {
		if u.User == nil {
			return raw
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), masked)
		}
		return u.String()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	} else {
		scheme += "://"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	return scheme + masked + "@" + rest[at+1:]
}

// urlSecrets returns the credentials a URL carries: its password, or for
// a string that does not parse, everything between the scheme and the last
// '@' (with its ':'-separated parts).
func urlSecrets(raw string) []string {
	if u, err := url.Parse(raw); err == nil && strings.Count(raw, "@") <= 1 {
		if u.User == nil {
			return nil
		}
		if pw, ok := u.User.Password(); ok {
			return []string{pw, url.QueryEscape(pw), url.PathEscape(pw)}
		}
		return nil
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	at := strings.LastIndex(rest, "@")
	if at <= 0 {
		return nil
	}
	info := rest[:at]
	out := []string{info}
	if _, pw, ok := strings.Cut(info, ":"); ok {
		out = append(out, pw)
	}
	return out
}

// secrets lists every secret the settings carry, to be masked in any text
// that leaves the process.
func (c *Config) secrets() []string {
	out := append(urlSecrets(c.RedisURL), urlSecrets(c.RedisClusterURL)...)
	out = append(out, c.profile.APIKey, c.tflags.apiKey, os.Getenv("TEMPORAL_API_KEY"))
	if c.profile.Codec != nil {
		out = append(out, c.profile.Codec.Auth)
	}
	return out
}

// redactText masks every secret in s. Secrets shorter than four characters
// are not searched for: they would mask unrelated text, and are too short
// to be a real secret.
func redactText(s string, secrets []string) string {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(x string) bool { return len(x) < 4 })
	// The longest first, so a secret that contains another is masked whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, x := range secrets {
		s = strings.ReplaceAll(s, x, masked)
	}
	return s
}
