from lsp_assist.cli import main

if __name__ == "__main__":
    main()
