// Package scan audits the MCP servers that the MCP clients of a machine
// use: it reads the clients' config files (Claude Desktop, Cursor, VS Code,
// Claude Code, Windsurf) and the gateway's own config, connects to each
// server, lists its tools, prompts and resource templates, and runs the
// guard package's definition rules over all of them together, with the
// cross-server checks and the gateway's tool pins.
//
// The package never calls a tool, never reads a resource and never prints
// an env value or a header value: a server's configuration reaches a report
// only as its command name or its URL without query or user info.
package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"secure-mcp-gateway/internal/config"
)

// Client names, as --client takes them.
const (
	ClientClaudeDesktop = "claude-desktop"
	ClientCursor        = "cursor"
	ClientVSCode        = "vscode"
	ClientClaudeCode    = "claude-code"
	ClientWindsurf      = "windsurf"
	ClientGateway       = "gateway"
	ClientFile          = "file" // a config file named with --file
)

// Clients lists the client names Discover knows, in report order.
var Clients = []string{ClientClaudeDesktop, ClientCursor, ClientVSCode, ClientClaudeCode, ClientWindsurf, ClientGateway}

// Server is one MCP server named in a client config.
type Server struct {
	// Client is the client whose config names the server.
	Client string
	// Config is the config file.
	Config string
	// Name is the server's name in that file.
	Name string
	// Command and Args start a stdio server; empty Command means remote.
	Command string
	Args    []string
	// Env is added to the child's environment. Its values are secrets
	// and never reported.
	Env map[string]string
	// URL is the endpoint of a remote server.
	URL string
	// Headers are sent to a remote server. Their values are secrets and
	// never reported.
	Headers map[string]string
	// ViaGateway marks a client entry that runs this gateway: its servers
	// are the gateway config's, scanned from there, not this entry.
	ViaGateway bool
}

// Target is how a report names where a server is: the command's base name
// and argument count, or the URL without user info, query and fragment.
func (s *Server) Target() string {
	if s.Command != "" {
		return filepath.Base(s.Command)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return "(invalid url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Paths are where Discover looks. The zero value uses the current user's
// home directory, the platform's config directory and the working
// directory.
type Paths struct {
	// Home is the user's home directory; empty means os.UserHomeDir.
	Home string
	// ConfigDir is the platform's user config directory (APPDATA on
	// Windows, ~/Library/Application Support on macOS, ~/.config
	// elsewhere); empty means derived from Home.
	ConfigDir string
	// Workspace is the project directory for .vscode/mcp.json, .mcp.json
	// and .cursor/mcp.json; empty means the working directory.
	Workspace string
	// GatewayConfig is the gateway's config file; empty means none.
	GatewayConfig string
}

func (p Paths) fill() (Paths, error) {
	if p.Home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return p, fmt.Errorf("find the home directory: %w", err)
		}
		p.Home = h
	}
	if p.ConfigDir == "" {
		switch runtime.GOOS {
		case "darwin":
			p.ConfigDir = filepath.Join(p.Home, "Library", "Application Support")
		case "windows":
			if d := os.Getenv("APPDATA"); d != "" {
				p.ConfigDir = d
			} else {
				p.ConfigDir = filepath.Join(p.Home, "AppData", "Roaming")
			}
		default:
			p.ConfigDir = filepath.Join(p.Home, ".config")
		}
	}
	if p.Workspace == "" {
		if wd, err := os.Getwd(); err == nil {
			p.Workspace = wd
		}
	}
	return p, nil
}

// ConfigFile is one client config file Discover looks at.
type ConfigFile struct {
	Client string
	Path   string
	// format is how the file lists servers.
	format string
}

// Config file formats.
const (
	formatMCPServers = "mcpServers" // {"mcpServers": {name: {...}}}: Claude Desktop, Cursor, Windsurf, .mcp.json
	formatVSCode     = "servers"    // {"servers": {name: {...}}}: VS Code mcp.json
	formatClaudeCode = "claudeCode" // ~/.claude.json: mcpServers plus projects[dir].mcpServers
	formatGateway    = "gateway"    // the gateway's config
)

// ConfigFiles returns the config files of the clients named in clients
// (all when empty), in report order, whether or not they exist.
func ConfigFiles(p Paths, clients []string) ([]ConfigFile, error) {
	p, err := p.fill()
	if err != nil {
		return nil, err
	}
	for _, c := range clients {
		if !slices.Contains(Clients, c) {
			return nil, fmt.Errorf("unknown client %q: want one of %s", c, strings.Join(Clients, ", "))
		}
	}
	want := func(c string) bool { return len(clients) == 0 || slices.Contains(clients, c) }
	var out []ConfigFile
	seen := map[string]bool{}
	add := func(client, path, format string) {
		if path == "" {
			return
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		if want(client) && !seen[path] {
			seen[path] = true
			out = append(out, ConfigFile{Client: client, Path: path, format: format})
		}
	}
	add(ClientClaudeDesktop, filepath.Join(p.ConfigDir, "Claude", "claude_desktop_config.json"), formatMCPServers)
	add(ClientCursor, filepath.Join(p.Home, ".cursor", "mcp.json"), formatMCPServers)
	if p.Workspace != "" {
		add(ClientCursor, filepath.Join(p.Workspace, ".cursor", "mcp.json"), formatMCPServers)
	}
	add(ClientVSCode, filepath.Join(p.ConfigDir, "Code", "User", "mcp.json"), formatVSCode)
	if p.Workspace != "" {
		add(ClientVSCode, filepath.Join(p.Workspace, ".vscode", "mcp.json"), formatVSCode)
	}
	add(ClientClaudeCode, filepath.Join(p.Home, ".claude.json"), formatClaudeCode)
	if p.Workspace != "" {
		add(ClientClaudeCode, filepath.Join(p.Workspace, ".mcp.json"), formatMCPServers)
	}
	add(ClientWindsurf, filepath.Join(p.Home, ".codeium", "windsurf", "mcp_config.json"), formatMCPServers)
	add(ClientGateway, p.GatewayConfig, formatGateway)
	return out, nil
}

// FileConfig returns the ConfigFile of a file named by the user: the
// gateway's config when it has mcp_configs, else a client config with
// mcpServers or servers.
func FileConfig(path string) ConfigFile {
	return ConfigFile{Client: ClientFile, Path: path, format: ""}
}

// ReadError is a config file that exists but cannot be read or parsed.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("read %s: %v", e.Path, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// entry is one server in a client config file.
type entry struct {
	Type      string            `json:"type"`
	Command   string            `json:"command"`
	Args      []string          `json:"args"`
	Env       map[string]string `json:"env"`
	URL       string            `json:"url"`
	ServerURL string            `json:"serverUrl"` // Windsurf
	Headers   map[string]string `json:"headers"`
}

// Servers reads the servers of f. A file that does not exist has none
// (nil, nil); one that cannot be parsed is a *ReadError.
func (f ConfigFile) Servers() ([]*Server, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &ReadError{f.Path, err}
	}
	format := f.format
	if format == "" {
		format = sniff(b)
	}
	if format == formatGateway {
		return gatewayServers(f, b)
	}
	var doc struct {
		MCPServers map[string]entry `json:"mcpServers"`
		Servers    map[string]entry `json:"servers"`
		Projects   map[string]struct {
			MCPServers map[string]entry `json:"mcpServers"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(stripComments(b), &doc); err != nil {
		return nil, &ReadError{f.Path, fmt.Errorf("not an MCP client config: %w", err)}
	}
	var out []*Server
	addAll := func(m map[string]entry, prefix string) {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e := m[n]
			u := e.URL
			if u == "" {
				u = e.ServerURL
			}
			s := &Server{Client: f.Client, Config: f.Path, Name: prefix + n, Command: e.Command, Args: e.Args, Env: e.Env, URL: u, Headers: e.Headers}
			s.ViaGateway = runsGateway(s)
			out = append(out, s)
		}
	}
	addAll(doc.MCPServers, "")
	addAll(doc.Servers, "")
	dirs := make([]string, 0, len(doc.Projects))
	for d := range doc.Projects {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		addAll(doc.Projects[d].MCPServers, filepath.Base(d)+":")
	}
	return out, nil
}

// sniff tells a gateway config from a client config.
func sniff(b []byte) string {
	var probe map[string]json.RawMessage
	if json.Unmarshal(stripComments(b), &probe) == nil {
		if _, ok := probe["mcp_configs"]; ok {
			return formatGateway
		}
		if _, ok := probe["common_mcp_gateway_config"]; ok {
			return formatGateway
		}
	}
	return formatMCPServers
}

// runsGateway reports whether a client entry starts this gateway, whose
// upstreams are scanned from the gateway's config instead.
func runsGateway(s *Server) bool {
	if s.Command == "" {
		return false
	}
	base := strings.TrimSuffix(filepath.Base(s.Command), ".exe")
	if base == "secure-mcp-gateway" {
		return len(s.Args) == 0 || strings.HasPrefix(s.Args[0], "-")
	}
	return false
}

// GatewayConfig returns the config file a ViaGateway entry runs the
// gateway with: its --config argument, else its ENKRYPT_CONFIG_PATH, else
// "" for the default one.
func (s *Server) GatewayConfig() string {
	for i, a := range s.Args {
		if (a == "--config" || a == "-config") && i+1 < len(s.Args) {
			return s.Args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
	}
	return s.Env["ENKRYPT_CONFIG_PATH"]
}

// GatewayFile returns the ConfigFile of the gateway config at path.
func GatewayFile(path string) ConfigFile {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return ConfigFile{Client: ClientGateway, Path: path, format: formatGateway}
}

// gatewayServers lists the upstream servers of every MCP config of the
// gateway's config file, each once by name, as the gateway client's (also
// when the file was named with --file), so that they are compared with the
// gateway's pins.
func gatewayServers(f ConfigFile, b []byte) ([]*Server, error) {
	c, err := config.Parse(b)
	if err != nil {
		return nil, &ReadError{f.Path, err}
	}
	ids := make([]string, 0, len(c.MCPConfigs))
	for id := range c.MCPConfigs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	seen := map[string]bool{}
	var out []*Server
	for _, id := range ids {
		m := c.MCPConfigs[id]
		if m == nil {
			continue
		}
		for _, s := range m.Servers {
			if s == nil || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			out = append(out, &Server{Client: ClientGateway, Config: f.Path, Name: s.Name, Command: s.Config.Command, Args: s.Config.Args, Env: s.Config.Env, URL: s.Config.URL, Headers: s.Config.Headers})
		}
	}
	return out, nil
}

// stripComments removes // and /* */ comments and trailing commas outside
// strings: VS Code's mcp.json is JSON with comments.
func stripComments(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out = append(out, c)
			if c == '\\' && i+1 < len(b) {
				i++
				out = append(out, b[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			i += 2
			for i+1 < len(b) && !(b[i] == '*' && b[i+1] == '/') {
				i++
			}
			i++
			continue
		case c == ']' || c == '}':
			k := len(out) - 1
			for k >= 0 && (out[k] == ' ' || out[k] == '\n' || out[k] == '\t' || out[k] == '\r') {
				k--
			}
			if k >= 0 && out[k] == ',' {
				out = append(out[:k], out[k+1:]...)
			}
		}
		out = append(out, c)
	}
	return out
}
