// Package setting names the operator's settings in messages, without knowing how the operator sets them.
//
// Only main.go knows the environment variables (CATTLE_URL, AUTO_CREATE, ...): it fills one Names and hands it
// down in updater.Config.Names, which updater.New passes on to rancher.Options and ecr.Config (doctor uses the
// updater's configuration). A package that speaks of a setting in an error, a hint, a log line, a reason or a
// check writes the field (n.URL, n.AutoCreate); Filled turns the fields left empty (tests, the demo, any other
// caller) into neutral words, so that a message never names nothing.
package setting

// Names are the names of the settings, as the operator sets them.
type Names struct {
	// Rancher: the API URL, its key pair, the environments served, the CA file and the request timeout.
	URL, AccessKey, SecretKey, Environments, CACert, RancherTimeout string
	// AWS and ECR: the home region, the role assumed, the registry accounts and regions in scope, the timeout.
	Region, RoleARN, RegistryIDs, Regions, ECRTimeout string
	// The rules and the schedule: creating the home registry, creating the registries services use, the interval.
	AutoCreate, Discover, Interval string
}

// Neutral is the wording used for a name left empty.
func Neutral() Names {
	return Names{
		URL: "the Rancher URL", AccessKey: "the Rancher access key", SecretKey: "the Rancher secret key",
		Environments: "the environment selection", CACert: "the Rancher CA certificate", RancherTimeout: "the Rancher timeout",
		Region: "the AWS region", RoleARN: "the AWS role ARN", RegistryIDs: "the ECR registry ids", Regions: "the ECR regions",
		ECRTimeout: "the ECR timeout", AutoCreate: "auto-create", Discover: "registry discovery", Interval: "the update interval",
	}
}

// Filled is n with every empty name replaced by its neutral wording.
func (n Names) Filled() Names {
	d := Neutral()
	for _, f := range []struct {
		v *string
		d string
	}{
		{&n.URL, d.URL}, {&n.AccessKey, d.AccessKey}, {&n.SecretKey, d.SecretKey}, {&n.Environments, d.Environments},
		{&n.CACert, d.CACert}, {&n.RancherTimeout, d.RancherTimeout}, {&n.Region, d.Region}, {&n.RoleARN, d.RoleARN},
		{&n.RegistryIDs, d.RegistryIDs}, {&n.Regions, d.Regions}, {&n.ECRTimeout, d.ECRTimeout},
		{&n.AutoCreate, d.AutoCreate}, {&n.Discover, d.Discover}, {&n.Interval, d.Interval},
	} {
		if *f.v == "" {
			*f.v = f.d
		}
	}
	return n
}
