// compose-config prints docker-compose.yml the way `docker compose config` does: loaded, interpolated, validated
// against the Compose Specification, normalised and with each service's environment resolved, by compose-go, the
// loader Docker Compose itself is built on (the version Compose v5.7.1 ships). Docker Compose cannot be built with
// `go install` (its go.mod has exclude directives) and needs no engine for this step, so the tests build this instead.
//
// Usage: compose-config --env-file FILE -f COMPOSE_FILE
// Output: the normalised project as YAML on stdout; exit 1 with the loader's message on stderr when the file is
// invalid or a required variable (${NAME:?...}) is missing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	envFile := flag.String("env-file", "", "environment file for interpolation (like docker compose --env-file)")
	file := flag.String("f", "docker-compose.yml", "compose file")
	flag.Parse()

	var envFiles []string
	if *envFile != "" {
		envFiles = []string{*envFile}
	}
	// The same option chain as docker compose's ProjectOptions: OS environment first, then the env files; the
	// project directory is the compose file's directory.
	options, err := cli.NewProjectOptions([]string{*file},
		cli.WithOsEnv,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	if project, err = project.WithServicesEnvironmentResolved(true); err != nil {
		fail(err)
	}
	if err = project.CheckContainerNameUnicity(); err != nil {
		fail(err)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compose-config: %v\n", err)
	os.Exit(1)
}
