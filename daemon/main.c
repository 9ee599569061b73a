#include <stdio.h>
int main(void)
{
	puts("oeed");
	return 0;
}
