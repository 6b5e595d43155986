/* tests/plugins/nosym.c: a shared object that is not a plug-in (no ksockd_plugin). */
__attribute__((visibility("default"))) int nosym_answer(void);
int nosym_answer(void)
{
	return 42;
}
