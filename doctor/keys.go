package doctor

// Key is one key of the configuration and where it came from, as main.go read it. The report says where each came
// from, and warns when a secret sits in a plain variable: in Rancher 1.6 a service's environment is part of its
// configuration, which every member of the environment who can view the service can read.
type Key struct {
	// Line is the report's line of the key, e.g. LineAWSSecretKey ("aws: secret key").
	Line Line
	// From says where it came from, e.g. "file /run/secrets/aws_secret_access_key (AWS_SECRET_ACCESS_KEY_FILE)" or
	// "variable AWS_SECRET_ACCESS_KEY"; empty when the configuration holds none and the AWS SDK's chain finds the
	// credentials.
	From string
	// Exposed marks a secret in a plain variable (or flag); Fix says what to use instead.
	Exposed bool
	Fix     string
	// Rancher marks a Rancher key: in a plain variable it is no warning when Rancher made the key for the
	// container (the agent labels), which the key's kind tells.
	Rancher bool
}

// exposed is what a secret in a plain variable means.
const exposed = "visible to every member of the environment who can view this service"

// rancherMade reports whether Rancher made the key for the container, through the agent labels: Cattle reports
// such a key's kind (X-API-Account-Kind) as "environment" (agent.role environment, what the catalog entry asks for),
// "projectadmin" (agent.role environmentAdmin) or "agent". An Environment API key is "project", an Account API key
// "user" or "admin": those an operator made and put in the variable.
func rancherMade(kind string) bool {
	switch kind {
	case "environment", "projectadmin", "agent":
		return true
	}
	return false
}

// keyChecks are the lines of the keys. kind is the Rancher key's kind, known when Rancher answered; awsSource is
// where the AWS SDK found the credentials ("" when it found none).
func keyChecks(keys []Key, kind string, answered bool, awsSource string) []Check {
	var out []Check
	names := lineNames()
	for _, k := range keys {
		c := Check{line: k.Line, Check: names[k.Line], Result: OK, Detail: k.From}
		switch {
		case k.From == "" && awsSource == "":
			c.Detail = "none in the configuration, and the AWS SDK's chain found none"
		case k.From == "":
			c.Detail = "none in the configuration; the AWS SDK's chain found: " + awsSource
		case k.Rancher && answered && rancherMade(kind):
			c.Detail += ", a key Rancher made for this container (agent labels; key kind " + kind + ")"
		case k.Exposed && k.Rancher && !answered:
			c.Result, c.Fix = Warn, k.Fix
			c.Detail += ": " + exposed + ", unless Rancher made the key for this container through the agent labels " +
				"(Rancher did not answer: the key's kind is not known)"
		case k.Exposed:
			c.Result, c.Detail, c.Fix = Warn, c.Detail+": "+exposed, k.Fix
		}
		out = append(out, c)
	}
	return out
}
