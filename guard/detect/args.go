package detect

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Detectors for what tool arguments point at, for upstreams that read files
// or fetch URLs on the model's behalf. Both are opt-in: list them in an
// input policy's block list.
const (
	// DetectorPathTraversal finds paths that climb out of a directory
	// ("../", also percent-encoded once or twice), NUL bytes, and paths to
	// well-known sensitive files (/etc/shadow, /proc/self/environ, ~/.ssh).
	DetectorPathTraversal = "path_traversal"
	// DetectorSSRF finds URLs aimed at the gateway host's own network:
	// loopback, private, link-local and cloud-metadata addresses, including
	// IPv4-mapped IPv6 and decimal, hex or octal spellings of an IP, and
	// schemes other than http and https. A DNS name is not resolved (the
	// guard does no I/O), so a name that rebinds to a private address is not
	// caught here.
	DetectorSSRF = "ssrf"
)

// sensitivePaths are path fragments that name secrets on a typical host.
var sensitivePaths = []string{
	"/etc/shadow", "/etc/passwd", "/etc/sudoers", "/proc/self/", "/proc/1/", "/.ssh/", "~/.ssh", ".aws/credentials",
	"/root/", "/var/run/secrets/", ".kube/config", ".docker/config.json", "enkrypt_mcp_config.json",
}

// ScanPath reports path traversal in s.
func ScanPath(s string) []Finding {
	var fs []Finding
	for i, v := range []string{s, percentDecode(s), percentDecode(percentDecode(s))} {
		if i > 0 && v == s {
			break
		}
		lower := strings.ToLower(v)
		if strings.Contains(lower, "../") || strings.Contains(lower, `..\`) || lower == ".." || strings.HasSuffix(lower, "/..") {
			fs = append(fs, Finding{Detector: DetectorPathTraversal, Rule: "dot_dot", End: len(s)})
			break
		}
	}
	if strings.Contains(s, "\x00") || strings.Contains(strings.ToLower(s), "%00") {
		fs = append(fs, Finding{Detector: DetectorPathTraversal, Rule: "nul_byte", End: len(s)})
	}
	lower := strings.ToLower(percentDecode(s))
	for _, p := range sensitivePaths {
		if strings.Contains(lower, p) {
			fs = append(fs, Finding{Detector: DetectorPathTraversal, Rule: "sensitive_file", End: len(s)})
			break
		}
	}
	return fs
}

// percentDecode decodes %XX escapes, leaving malformed ones as they are.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// ScanSSRF reports URLs in s that aim at internal addresses.
func ScanSSRF(s string) []Finding {
	var fs []Finding
	for off := 0; ; {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			break
		}
		i += off
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		end := i + 3
		for end < len(s) && !strings.ContainsRune(" \t\r\n\"'<>`", rune(s[end])) {
			end++
		}
		if rule := ssrfRule(s[start:end]); rule != "" {
			fs = append(fs, Finding{Detector: DetectorSSRF, Rule: rule, Start: start, End: end})
		}
		off = end
		if off >= len(s) {
			break
		}
	}
	return fs
}

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// ssrfRule names why raw (a URL) is refused, or returns "".
func ssrfRule(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ws", "wss":
	case "":
		return ""
	default:
		return "scheme"
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	switch {
	case host == "":
		return ""
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return "loopback"
	case host == "metadata.google.internal" || host == "metadata" || strings.HasSuffix(host, ".internal"):
		return "metadata"
	}
	ip, encoded := parseHostIP(host)
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	switch {
	case ip == netip.AddrFrom4([4]byte{169, 254, 169, 254}) || ip == netip.MustParseAddr("fd00:ec2::254"):
		return "metadata"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "link_local"
	case ip.IsPrivate():
		return "private"
	case ip.IsUnspecified():
		return "unspecified"
	case encoded:
		return "encoded_ip" // a public address spelled to slip past filters
	}
	return ""
}

// parseHostIP reads host as an IP address, also in the decimal, hex and
// octal spellings that URL parsers of other languages accept; encoded
// reports such a spelling.
func parseHostIP(host string) (ip netip.Addr, encoded bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, false
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(p, 0, 32) // 0x.., 0.. (octal) and decimal
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	// a.b.c.d, a.b.(c as 16 bits), a.(b as 24 bits), (a as 32 bits).
	var n uint64
	for i, v := range vals {
		if i == len(vals)-1 {
			n = n<<(8*uint(5-len(vals))) | v
			break
		}
		if v > 255 {
			return netip.Addr{}, false
		}
		n = n<<8 | v
	}
	if n > 0xffffffff {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
