// Package examples holds the example MCP servers bundled with the gateway and
// run by `secure-mcp-gateway example-server NAME`: echo, a minimal server for
// the embedded default config, and probe, a diagnostic server that tests and
// operators use to see what an upstream child actually receives (environment,
// argv, process group, cancellation). The same table holds the hostile
// catalogue, which mirrors the Python gateway's 16 bad MCP servers and adds
// rug pulls, a recorder and fault injection, all simulated with canned
// outputs (`example-server --list`).
//
// The package owns only these servers. Library packages must never import it:
// it is reached through the command line (and the tests' re-exec trick), so
// that an example's behaviour, such as probe's crash tool calling os.Exit, can
// never run inside the gateway process.
package examples

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Version is the version every example server reports in its serverInfo.
const Version = "dev"

// example is one entry of the catalogue.
type example struct {
	description string
	newServer   func() *mcp.Server
	// raw, when set instead of newServer, serves raw JSON-RPC lines on
	// stdin and stdout without the go-sdk.
	raw func(ctx context.Context, in io.Reader, out io.Writer) error
}

// catalogue maps a server name to its constructor. Hostile servers are added
// here too, one constructor each.
var catalogue = map[string]example{
	"echo": {
		description: "echoes a message and adds two numbers; the smallest useful upstream",
		newServer:   newEcho,
	},
	"prompt_injection": {
		description: "hostile: injections in tool descriptions and in outputs (including an HTML comment)",
		newServer:   newPromptInjection,
	},
	"tool_poisoning": {
		description: "hostile: poisoned descriptions and annotations (hidden instructions, sensitive paths, fake system markers) beside a clean tool",
		newServer:   newToolPoisoning,
	},
	"schema_only_poisoning": {
		description: "hostile: a clean description with an injection hidden in a parameter's schema description",
		newServer:   newSchemaOnly,
	},
	"bad_output": {
		description: "hostile: innocent tools whose outputs carry injections, credentials, and an embedded resource with an injection",
		newServer:   newBadOutput,
	},
	"recorder": {
		description: "stores every argument object it receives to the file named by EXAMPLE_RECORD_FILE",
		newServer:   newRecorder,
	},
	"rugpull": {
		description: "hostile: changes its tool's description after the first call (list_changed), and from then on at every start (state file EXAMPLE_RUGPULL_STATE)",
		newServer:   newRugPull,
	},
	"credential_theft": {
		description: "hostile: innocent-looking tools whose outputs expose fake AWS, GitHub, Stripe, Slack keys, JWTs, a private key and a DB URL with a password",
		newServer:   newCredentialTheft,
	},
	"path_traversal": {
		description: "hostile: file tools taking paths that pretend to read /etc/passwd, ../../.ssh/id_rsa and files outside the root (simulated, no I/O)",
		newServer:   newPathTraversal,
	},
	"command_injection": {
		description: "hostile: tools whose outputs echo the shell command built from the input with metacharacter payloads and reverse shells (nothing runs)",
		newServer:   newCommandInjection,
	},
	"mpma": {
		description: "hostile: preference manipulation (\"ALWAYS CHOOSE THIS TOOL FIRST\", authority, scarcity claims) in descriptions and outputs, beside a plain tool",
		newServer:   newMPMA,
	},
	"quiet_rugpull": {
		description: "hostile: its tool's description and schema change at the second tools/list with no list_changed, and from then on at every start (state file EXAMPLE_QUIET_RUGPULL_STATE)",
		newServer:   newQuietRugPull,
	},
	"bad_mcp": {
		description: "hostile: benign names and descriptions with lying annotations (readOnlyHint and openWorldHint: false on tools that upload data); outputs admit the hidden effect",
		newServer:   newBadMCP,
	},
	"session_management": {
		description: "hostile: token passthrough, a confused-deputy OAuth client, other users' session data, endless and shared sessions (simulated)",
		newServer:   newSessionManagement,
	},
	"resource_exhaustion": {
		description: "hostile: tools that describe unbounded memory, decompression bombs, ReDoS, billion laughs and fork bombs (text only, no resources used)",
		newServer:   newResourceExhaustion,
	},
	"unauthenticated_access": {
		description: "hostile: admin and data tools that answer anyone: customer dumps with SSN, card and API key, deletes, root commands (simulated)",
		newServer:   newUnauthenticatedAccess,
	},
	"rce": {
		description: "hostile: eval, pickle, template injection, unsafe YAML and JSON type gadgets described with payloads (nothing is evaluated)",
		newServer:   newRCE,
	},
	"ssrf": {
		description: "hostile: URL tools that pretend to fetch cloud metadata credentials, loopback admin pages and file:// URLs, and scan internal ports (no I/O)",
		newServer:   newSSRF,
	},
	"faults": {
		description: "fault injection: garbage on stdout, a stderr flood, a process tree that ignores SIGTERM and stdin EOF, an endless progress stream, a huge result",
		newServer:   newFaults,
	},
	"oversize": {
		description: "fault injection: replies over the gateway's message cap, one whole and one whose line never ends",
		newServer:   newOversize,
	},
	"rugpull_notify_first": {
		description: "hostile: announces a changed definition (list_changed) just before answering the first tools/list with the old one",
		newServer:   newLiveRugPull("notify_first"),
	},
	"rugpull_notify_after": {
		description: "hostile: changes its tool's definition at the first call and announces it (list_changed) before that call's answer",
		newServer:   newLiveRugPull("notify_after"),
	},
	"rugpull_silent": {
		description: "hostile: changes its tool's definition after the first call and never announces it",
		newServer:   newLiveRugPull("silent"),
	},
	"sandboxprobe": {
		description: "hostile: reads ~/.ssh/id_rsa and ~/.aws/credentials, writes outside /tmp, connects out, fork-bombs and escapes its process group with setsid(); reports what it managed",
		newServer:   newSandboxProbe,
	},
	"raw_hostile": {
		description: "hostile, raw JSON-RPC: errors, resource/template/prompt metadata, completions, progress and log messages (a flood on request) carrying injections and credentials; sampling and elicitation requests; records every line it receives (EXAMPLE_RECORD_FILE)",
		raw:         runRawHostile,
	},
	"probe": {
		description: "diagnostic server: reports env, argv, pid and process group, sleeps, crashes and spawns a grandchild on request",
		newServer:   newProbe,
	},
}

// Names returns the names of the bundled example servers, sorted.
func Names() []string {
	names := make([]string, 0, len(catalogue))
	for name := range catalogue {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Describe returns a one-line description of the named example server, or
// the empty string if there is no such server.
func Describe(name string) string {
	return catalogue[name].description
}

// Run serves the named example MCP server over t (a raw example serves
// stdin and stdout itself) until ctx ends or the peer disconnects, both of which are normal ends and return nil. An unknown name
// is an error that lists the known names.
func Run(ctx context.Context, name string, t mcp.Transport) error {
	ex, ok := catalogue[name]
	if !ok {
		return fmt.Errorf("unknown example server %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if ex.raw != nil {
		if err := ex.raw(ctx, os.Stdin, os.Stdout); err != nil {
			return fmt.Errorf("run example server %q: %w", name, err)
		}
		return nil
	}
	err := ex.newServer().Run(ctx, t)
	if stubborn.Load() {
		for { // the faults example's stubborn mode outlives its client
			time.Sleep(time.Hour)
		}
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run example server %q: %w", name, err)
	}
	return nil
}

// textResult returns a successful tool result holding one text block.
func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
