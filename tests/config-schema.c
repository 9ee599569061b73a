/* config-schema.c - prints the config key tables from the schema, for scripts/config-docs.py
 * (which splices them into docs/config.md and docs/oeed.yaml.5 and checks they agree).
 *   oeed-config-schema [--man] */
#include <stdio.h>
#include <string.h>

#include "config.h"

int main(int argc, char **argv)
{
	bool man = argc > 1 && strcmp(argv[1], "--man") == 0;
	config_doc(stdout, man);
	return fflush(stdout) == 0 ? 0 : 1;
}
