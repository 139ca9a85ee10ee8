typedef int rtk_placeholder_opts;
