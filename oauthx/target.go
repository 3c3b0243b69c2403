package oauthx

import "secure-mcp-gateway/internal/config"

// LoginTarget is the login target of server s of MCP config configName;
// configPath is the config file, named in the login command it suggests
// when it is not the default one.
func LoginTarget(s *config.Server, configName, configPath string) *Target {
	shown := configPath
	if def, err := config.DefaultPath(); err == nil && def == configPath {
		shown = ""
	}
	return &Target{Server: s.Name, ConfigName: configName, URL: s.Config.URL, Login: s.OAuthLogin,
		Command: LoginCommand(s.Name, configName, shown)}
}
