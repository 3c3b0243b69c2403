package main

import (
	"strings"

	"github.com/urfave/cli/v3"
)

// commandExamples are the example lines of each command's help, by
// command path. A command missing here gets an example built from its
// flags (see addExamples), so every command's help shows one.
var commandExamples = map[string]string{
	"generate-config":                        "generate-config",
	"install":                                "install --client claude-desktop",
	"scan":                                   "scan --client cursor --fail-on warn",
	"audit verify":                           "audit verify ~/.enkrypt/audit",
	"audit tail":                             "audit tail -n 50",
	"probe":                                  "probe http://127.0.0.1:8000/readyz",
	"audit query":                            "audit query --kind block --since 24h",
	"config list":                            "config list",
	"config add":                             "config add --config-name work",
	"config copy":                            "config copy --source-config work --target-config staging",
	"config rename":                          "config rename --config-name work --new-name prod",
	"config get":                             "config get --config-name default_config",
	"config remove":                          "config remove --config-name staging",
	"config list-projects":                   "config list-projects --config-name default_config",
	"config list-servers":                    "config list-servers --config-name default_config",
	"config get-server":                      "config get-server --config-name default_config --server-name echo_server",
	"config update-server":                   "config update-server --config-name default_config --server-name github --denied-tools '[\"delete_*\"]'",
	"config remove-server":                   "config remove-server --config-name default_config --server-name github",
	"config remove-all-servers":              "config remove-all-servers --config-name staging",
	"config export":                          "config export --config-name work --output-file work.json",
	"config import":                          "config import --input-file work.json --config-name work-copy",
	"config search":                          "config search --search-term github",
	"config update-server-input-guardrails":  "config update-server-input-guardrails --config-name default_config --server-name github --preset strict",
	"config update-server-output-guardrails": "config update-server-output-guardrails --config-name default_config --server-name github --policy '{\"enabled\":true,\"policy_name\":\"Out\",\"block\":[\"pii\",\"secrets\"],\"additional_config\":{\"redact\":true}}'",
	"config update-server-guardrails":        "config update-server-guardrails --config-name default_config --server-name github --preset default",
	"project list":                           "project list",
	"project create":                         "project create --project-name team-a",
	"project get":                            "project get --project-name team-a",
	"project remove":                         "project remove --project-name team-a",
	"project assign-config":                  "project assign-config --project-name team-a --config-name work",
	"project unassign-config":                "project unassign-config --project-name team-a",
	"project get-config":                     "project get-config --project-name team-a",
	"project list-users":                     "project list-users --project-name team-a",
	"project add-user":                       "project add-user --project-name team-a --email ana@example.com",
	"project remove-user":                    "project remove-user --project-name team-a --email ana@example.com",
	"project remove-all-users":               "project remove-all-users --project-name team-a --force",
	"project export":                         "project export --project-name team-a --output-file team-a.json",
	"project search":                         "project search --search-term team",
	"user list":                              "user list",
	"user create":                            "user create --email ana@example.com",
	"user get":                               "user get --email ana@example.com",
	"user update":                            "user update --email ana@example.com --new-email ana@corp.example",
	"user delete":                            "user delete --email ana@example.com --force",
	"user list-projects":                     "user list-projects --email ana@example.com",
	"user generate-api-key":                  "user generate-api-key --email ana@example.com --project-name team-a",
	"user get-api-key":                       "user get-api-key --api-key fp:1a2b3c4d",
	"user rotate-api-key":                    "user rotate-api-key --api-key fp:1a2b3c4d",
	"user disable-api-key":                   "user disable-api-key --api-key fp:1a2b3c4d",
	"user enable-api-key":                    "user enable-api-key --api-key fp:1a2b3c4d",
	"user delete-api-key":                    "user delete-api-key --api-key fp:1a2b3c4d",
	"user delete-all-api-keys":               "user delete-all-api-keys --email ana@example.com",
	"user list-api-keys":                     "user list-api-keys --email ana@example.com",
	"user list-all-api-keys":                 "user list-all-api-keys --json",
	"user search":                            "user search --search-term ana",
	"system health-check":                    "system health-check --strict",
	"system backup":                          "system backup --output-file backup.json",
	"system restore":                         "system restore --input-file backup.json",
	"system reset":                           "system reset --confirm",
	"system hash-keys":                       "system hash-keys",
	"example-server":                         "example-server tool_poisoning",
	"cache status":                           "cache status",
	"cache clear":                            "cache clear --server-name github",
	"oauth login":                            "oauth login linear --no-browser",
	"oauth status":                           "oauth status",
	"oauth revoke":                           "oauth revoke --server github",
	"upstream-supervisor":                    "upstream-supervisor -- /usr/local/bin/some-mcp-server --stdio",
	"tools pins":                             "tools pins",
	"tools diff":                             "tools diff --server github --tool create_issue",
	"tools approve":                          "tools approve --server github --tool create_issue",
	"timeouts":                               "timeouts --json",
}

// addExamples appends an "Example:" section to the help of every command
// under c that has none in its description.
func addExamples(c *cli.Command, path string) {
	for _, sub := range c.Commands {
		p := strings.TrimSpace(path + " " + sub.Name)
		if !strings.Contains(sub.Description, "Example:") {
			ex, ok := commandExamples[p]
			if !ok && len(sub.Commands) == 0 {
				ex = exampleFromFlags(p, sub)
			}
			if ex != "" {
				if sub.Description != "" {
					sub.Description += "\n\n"
				}
				sub.Description += "Example:\n  secure-mcp-gateway " + ex
			}
		}
		addExamples(sub, p)
	}
}

// exampleFromFlags builds an example for a command no table entry covers:
// its path and its name flags with placeholder values.
func exampleFromFlags(path string, c *cli.Command) string {
	parts := []string{path}
	for _, f := range c.Flags {
		n := f.Names()[0]
		if strings.HasSuffix(n, "-name") || n == "server" || n == "email" {
			parts = append(parts, "--"+n, strings.ToUpper(strings.ReplaceAll(n, "-", "_")))
		}
	}
	if c.ArgsUsage != "" {
		parts = append(parts, c.ArgsUsage)
	}
	return strings.Join(parts, " ")
}
